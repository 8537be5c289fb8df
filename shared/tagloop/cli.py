"""The `tagloop` command: model versions, bootstrap, training from VOC, evaluation.

    tagloop bootstrap
    tagloop models list | activate V | import PATH [--activate]
    tagloop train --voc-dir PATH/VOC2007 [--epochs N] [--lr X] [--activate yes|no|auto]
    tagloop evaluate --version N (--voc-dir PATH [--split test] | --images DIR --labels CSV)

Settings come from TAGLOOP_* variables (tagloop.settings); --models-dir and --data-dir
override them. TensorFlow is imported only by the commands that need it.
"""

import argparse
import json
import logging
import sys
from pathlib import Path

from tagloop.errors import TagloopError
from tagloop.settings import CommonSettings
from tagloop.store import ModelStore, redis_announcer


def _settings(args: argparse.Namespace) -> CommonSettings:
    overrides = {k: v for k, v in (("models_dir", args.models_dir), ("data_dir", args.data_dir)) if v}
    return CommonSettings(**overrides)


def _store(settings: CommonSettings) -> ModelStore:
    """The store, announcing activations on Redis when it is reachable (inference also polls)."""
    from redis import Redis

    redis = Redis.from_url(settings.redis_url, socket_connect_timeout=1, socket_timeout=1)
    return ModelStore(
        settings.models_dir,
        settings.model_name,
        keep=settings.keep_versions,
        announce=redis_announcer(redis, settings.reload_channel),
    )


def cmd_bootstrap(args: argparse.Namespace) -> int:
    from tagloop.model.bootstrap import ensure_first_version

    settings = _settings(args)
    store = _store(settings)
    version = ensure_first_version(settings, announce=store.announce)
    print(f"created version {version}" if version else "the store already has versions; nothing to do")
    return 0


def cmd_models_list(args: argparse.Namespace) -> int:
    store = _store(_settings(args))
    print(f"{'':1} {'version':>7}  {'created':<25} {'parent':>6} {'samples':>7}  {'mAP':>6}  source")
    for info in store.versions():
        meta = info.meta
        cand = (meta.get("metrics") or {}).get("candidate") or {}
        m_ap = cand.get("mAP")
        print(
            f"{'*' if info.active else ' '} {info.version:>7}  {meta.get('created', ''):<25} "
            f"{meta.get('parent') or '-':>6} {_or_dash(meta.get('samples')):>7}  "
            f"{f'{m_ap:.3f}' if m_ap is not None else '-':>6}  {meta.get('source', '')}"
        )
    return 0


def _or_dash(value: object) -> str:
    return "-" if value is None else str(value)


def cmd_models_activate(args: argparse.Namespace) -> int:
    _store(_settings(args)).activate(args.version)
    print(f"version {args.version} is now active")
    return 0


def cmd_models_import(args: argparse.Namespace) -> int:
    from tagloop.training.importer import import_model_file

    version = import_model_file(store=_store(_settings(args)), path=Path(args.path), activate=args.activate)
    print(f"imported {args.path} as version {version}{' (active)' if args.activate else ''}")
    return 0


def cmd_models_new(args: argparse.Namespace) -> int:
    from tagloop.model.build import build_model
    from tagloop.model.publish import publish_model

    settings = _settings(args)
    model = build_model(cache_dir=settings.cache_dir, backbone=args.backbone)
    meta = {"parent": None, "samples": 0, "backbone": args.backbone, "source": f"new:{args.backbone}"}
    version = publish_model(
        _store(settings), model, {**meta, "metrics": {}}, activate=args.activate, cache_dir=settings.cache_dir
    )
    print(f"published a new {args.backbone} model as version {version}{' (active)' if args.activate else ''}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from tagloop.evaluation import format_report
    from tagloop.model.bootstrap import ensure_first_version
    from tagloop.training.fit import FitConfig
    from tagloop.training.offline import default_splits, train_from_voc, voc_images

    settings = _settings(args)
    train_split, eval_split = default_splits(args.voc_dir)
    train_split, eval_split = args.train_split or train_split, args.eval_split or eval_split
    train, test = voc_images(args.voc_dir, train_split), voc_images(args.voc_dir, eval_split)
    print(
        f"training on {len(train.paths)} images ({train_split}), "
        f"evaluating on {len(test.paths)} ({eval_split})"
    )
    config = FitConfig(
        epochs=args.epochs, learning_rate=args.lr, batch_size=args.batch_size, margin=args.margin
    )
    bars: dict[str, tqdm] = {}

    def on_features(done: int, total: int) -> None:
        bar = bars.setdefault(f"features{total}", tqdm(total=total, desc="features", unit="img"))
        bar.n = done
        bar.refresh()

    def on_epoch(epoch: int, epochs: int, loss: float) -> None:
        bar = bars.setdefault("epochs", tqdm(total=epochs, desc="training", unit="epoch"))
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.4f}")

    activate = {"yes": True, "no": False, "auto": None}[args.activate]
    store = _store(settings)
    ensure_first_version(settings, announce=store.announce)  # training starts from the active version
    out = train_from_voc(
        store=store,
        cache_dir=settings.cache_dir,
        train=train,
        test=test,
        config=config,
        activate=activate,
        on_features=on_features,
        on_epoch=on_epoch,
    )
    for bar in bars.values():
        bar.close()
    print(f"\nactive version {out['parent']} on {eval_split}:\n{format_report(out['active'])}")
    print(f"\ncandidate on {eval_split}:\n{format_report(out['candidate'])}")
    print(f"\npublished version {out['version']} ({'active' if out['promoted'] else 'not activated'})")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from tagloop.evaluation import format_report
    from tagloop.training.offline import csv_images, evaluate_version, voc_images

    if args.voc_dir:
        data = voc_images(args.voc_dir, args.split)
    elif args.images and args.labels:
        data = csv_images(args.images, args.labels)
    else:
        raise TagloopError("give --voc-dir, or --images and --labels")
    store = _store(_settings(args))
    version = args.version or store.require_active()
    metrics = evaluate_version(store=store, version=version, data=data, threshold=args.threshold)
    if args.json:
        print(json.dumps({"version": version, **metrics}, indent=2))
    else:
        print(f"version {version}\n{format_report(metrics)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tagloop", description="tagloop model versions, training and evaluation"
    )
    parser.add_argument("--models-dir", type=Path, help="model store root (default: TAGLOOP_MODELS_DIR)")
    parser.add_argument("--data-dir", type=Path, help="data root: caches (default: TAGLOOP_DATA_DIR)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("bootstrap", help="create version 1 (ImageNet prior) if the store is empty").set_defaults(
        run=cmd_bootstrap
    )

    models = sub.add_parser("models", help="list, activate or import versions").add_subparsers(
        dest="action", required=True
    )
    models.add_parser("list", help="every version, newest first (* = active)").set_defaults(
        run=cmd_models_list
    )
    act = models.add_parser("activate", help="make a version the live one (rollback)")
    act.add_argument("version", type=int)
    act.set_defaults(run=cmd_models_activate)
    imp = models.add_parser("import", help="publish a Keras .h5/.keras file as a new version")
    imp.add_argument("path")
    imp.add_argument("--activate", action="store_true", help="make it the live version")
    imp.set_defaults(run=cmd_models_import)
    new = models.add_parser("new", help="publish an untrained model on another backbone, to train from")
    new.add_argument(
        "--backbone",
        choices=("lite0", "efficientnetb0"),
        default="lite0",
        help="lite0: EfficientNet-Lite0 + ImageNet prior (the default, offline); efficientnetb0: "
        "keras.applications EfficientNetB0, whose ImageNet weights are downloaded (needs network)",
    )
    new.add_argument("--activate", action="store_true", help="make it the live version")
    new.set_defaults(run=cmd_models_new)

    train = sub.add_parser("train", help="train the active version's head on a Pascal VOC folder")
    train.add_argument("--voc-dir", type=Path, required=True, help="e.g. VOCdevkit/VOC2007")
    train.add_argument("--epochs", type=int, default=20)
    train.add_argument("--lr", type=float, default=1e-3)
    train.add_argument("--batch-size", type=int, default=16)
    train.add_argument(
        "--margin", type=float, default=0.1, help="early stop when every label fits by this margin"
    )
    train.add_argument("--train-split", help="default: trainval (or train)")
    train.add_argument("--eval-split", help="default: test (or val)")
    train.add_argument(
        "--activate",
        choices=("auto", "yes", "no"),
        default="auto",
        help="auto: activate when the test mAP is not worse than the active version's",
    )
    train.set_defaults(run=cmd_train)

    ev = sub.add_parser("evaluate", help="mAP, per-class AP and F1 of a version")
    ev.add_argument("--version", type=int, help="default: the active version")
    ev.add_argument("--voc-dir", type=Path)
    ev.add_argument("--split", default="test")
    ev.add_argument("--images", type=Path, help="a folder of images (with --labels)")
    ev.add_argument("--labels", type=Path, help="CSV: filename,labels (labels separated by ; | or spaces)")
    ev.add_argument("--threshold", type=float, default=0.5)
    ev.add_argument("--json", action="store_true")
    ev.set_defaults(run=cmd_evaluate)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except TagloopError as exc:
        print(f"tagloop: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
