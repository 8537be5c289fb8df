"""The `tagloop` command: model versions, bootstrap, training from VOC, evaluation.

    tagloop bootstrap
    tagloop models list | activate V | import PATH [--activate]
    tagloop train --voc-dir PATH/VOC2007 [--epochs N] [--lr X] [--activate yes|no|auto]
    tagloop evaluate --version N (--voc-dir PATH [--split test] | --images DIR --labels CSV | --set)
    tagloop export --format csv|voc|coco --out PATH [--session ID] [--url URL] [--token TOKEN]
    tagloop users add NAME --role admin|annotator [--password-stdin] | list | remove NAME

Settings come from TAGLOOP_* variables (tagloop.settings); --models-dir and --data-dir
override them. TensorFlow is imported only by the commands that need it.
"""

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from tagloop.errors import TagloopError
from tagloop.redis_auth import authenticated_url
from tagloop.settings import CommonSettings, RetrainSettings
from tagloop.store import ModelStore, redis_announcer
from tagloop.version_meta import VersionMeta


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {k: v for k, v in (("models_dir", args.models_dir), ("data_dir", args.data_dir)) if v}


def _settings(args: argparse.Namespace) -> CommonSettings:
    return CommonSettings(**_overrides(args))


def _store(settings: CommonSettings) -> ModelStore:
    """The store, announcing activations on Redis when it is reachable (inference also polls)."""
    from redis import Redis

    redis = Redis.from_url(authenticated_url(settings), socket_connect_timeout=1, socket_timeout=1)
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
        m_ap = (meta.metrics.get("candidate") or {}).get("mAP")
        print(
            f"{'*' if info.active else ' '} {info.version:>7}  {meta.created or '':<25} "
            f"{meta.parent or '-':>6} {_or_dash(meta.samples):>7}  "
            f"{f'{m_ap:.3f}' if m_ap is not None else '-':>6}  {meta.source or ''}"
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
    meta = VersionMeta(parent=None, samples=0, backbone=args.backbone, source=f"new:{args.backbone}")
    version = publish_model(
        _store(settings), model, meta, activate=args.activate, cache_dir=settings.cache_dir
    )
    print(f"published a new {args.backbone} model as version {version}{' (active)' if args.activate else ''}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from tagloop.evaluation import format_report
    from tagloop.model.bootstrap import ensure_first_version
    from tagloop.training.offline import default_splits, train_from_voc, voc_images
    from tagloop.training.policy import RetrainPolicy

    settings = RetrainSettings(**_overrides(args))
    train_split, eval_split = default_splits(args.voc_dir)
    train_split, eval_split = args.train_split or train_split, args.eval_split or eval_split
    train, test = voc_images(args.voc_dir, train_split), voc_images(args.voc_dir, eval_split)
    print(
        f"training on {len(train.paths)} images ({train_split}), "
        f"evaluating on {len(test.paths)} ({eval_split})"
    )
    policy = RetrainPolicy.from_settings(
        settings, epochs=args.epochs, learning_rate=args.lr, batch_size=args.batch_size, margin=args.margin
    )
    store = _store(settings)
    ensure_first_version(settings, announce=store.announce)  # training starts from the active version
    with _ProgressBars() as bars:
        out = train_from_voc(
            store=store,
            settings=settings,
            train=train,
            test=test,
            policy=policy,
            force=args.activate == "yes",
            progress=bars,
        )
    metrics = out.candidate.metrics
    print(f"\nactive version {out.parent} on {eval_split}:\n{format_report(metrics['active'])}")
    print(f"\ncandidate on {eval_split}:\n{format_report(metrics['candidate'])}")
    print(f"\n{out.candidate.decision.reason}")
    state = "active" if out.candidate.decision.promoted else "not activated"
    print(f"published version {out.version} ({state})")
    return 0


class _ProgressBars:
    """The retrain's progress(stage, **fields) as tqdm bars: features, then each fit."""

    def __init__(self) -> None:
        self.bars: dict[str, Any] = {}

    def __enter__(self) -> "_ProgressBars":
        return self

    def __exit__(self, *exc: object) -> None:
        for bar in self.bars.values():
            bar.close()

    def __call__(self, stage: str, **fields: Any) -> None:
        from tqdm import tqdm

        if stage == "features" and fields.get("total"):
            bar = self.bars.setdefault("features", tqdm(total=fields["total"], desc="features", unit="img"))
            bar.n = fields["done"]
            bar.refresh()
        elif stage == "training" and fields.get("loss") is not None:
            name = f"training ({fields['fit']})"
            bar = self.bars.setdefault(name, tqdm(total=fields["epochs"], desc=name, unit="epoch"))
            bar.update(1)
            bar.set_postfix(loss=f"{fields['loss']:.4f}")


def cmd_evaluate(args: argparse.Namespace) -> int:
    from tagloop.evaluation import format_report
    from tagloop.training.offline import csv_images, evaluate_version, voc_images

    if args.set:
        return evaluate_on_set(args)
    if args.voc_dir:
        data = voc_images(args.voc_dir, args.split)
    elif args.images and args.labels:
        data = csv_images(args.images, args.labels)
    else:
        raise TagloopError("give --voc-dir, or --images and --labels")
    settings = _settings(args)
    store = _store(settings)
    version = args.version or store.require_active()
    metrics = evaluate_version(
        store=store, version=version, data=data, threshold=args.threshold, limits=settings.decode_limits
    )
    if args.json:
        print(json.dumps({"version": version, **metrics}, indent=2))
    else:
        print(f"version {version}\n{format_report(metrics)}")
    return 0


def evaluate_on_set(args: argparse.Namespace) -> int:
    """The evaluation set (tests/fixtures/evalset.csv): held-out figures, tuning figures beside."""
    import numpy as np

    from tagloop.evalset import evaluate_parts, read_evalset
    from tagloop.evaluation import format_parts

    settings = _settings(args)
    store = _store(settings)
    version = args.version or store.require_active()
    at = np.array(store.meta(version).threshold_list()) if args.threshold is None else args.threshold
    parts = evaluate_parts(read_evalset(args.set_csv), args.set_dir, store.path(version) / "model.onnx", at)
    if args.json:
        print(json.dumps({"version": version, **parts}, indent=2))
    else:
        print(f"version {version} on the evaluation set (tuning: chosen on, not a result)")
        print(format_parts(parts))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Corrections (or one review session's) as CSV, a VOC folder or COCO JSON, from the training API."""
    from tagloop.export_client import download_export

    settings = _settings(args)
    url = args.url or f"http://127.0.0.1:{settings.gateway_port}"
    token = SecretStr(args.token) if args.token else settings.token or settings.admin_token
    written = download_export(url=url, fmt=args.format, out=Path(args.out), session=args.session, token=token)
    print(f"wrote {written}")
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
    _add_models_commands(sub)
    _add_train_command(sub)
    _add_evaluate_command(sub)
    _add_export(sub)
    _add_users(sub)
    return parser


def _add_users(sub: Any) -> None:
    """The team's users live in the training service's database: its package has them."""
    try:
        from training_api.users_cli import add_parser
    except ImportError:  # inference-only install: no database here
        return
    add_parser(sub, _overrides)


def _add_models_commands(sub: Any) -> None:
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


def _add_train_command(sub: Any) -> None:
    train = sub.add_parser("train", help="train the active version's head on a Pascal VOC folder")
    train.add_argument("--voc-dir", type=Path, required=True, help="e.g. VOCdevkit/VOC2007")
    train.add_argument("--epochs", type=int, help="most epochs (default: TAGLOOP_RETRAIN_EPOCHS)")
    train.add_argument("--lr", type=float, help="learning rate (default: TAGLOOP_LEARNING_RATE)")
    train.add_argument("--batch-size", type=int, help="default: TAGLOOP_BATCH_SIZE")
    train.add_argument(
        "--margin", type=float, help="early stop when every label fits by this margin (TAGLOOP_FIT_MARGIN)"
    )
    train.add_argument("--train-split", help="default: trainval (or train)")
    train.add_argument("--eval-split", help="default: test (or val)")
    train.add_argument(
        "--activate",
        choices=("auto", "yes"),
        default="auto",
        help="auto: the promotion rule of the worker's retrain decides (log-loss on the test "
        "split not worse than the active version's); yes: activate whatever it says",
    )
    train.set_defaults(run=cmd_train)


def _add_evaluate_command(sub: Any) -> None:
    ev = sub.add_parser("evaluate", help="mAP, per-class AP and F1 of a version")
    ev.add_argument("--version", type=int, help="default: the active version")
    ev.add_argument("--voc-dir", type=Path)
    ev.add_argument("--split", default="test")
    ev.add_argument("--images", type=Path, help="a folder of images (with --labels)")
    ev.add_argument("--labels", type=Path, help="CSV: filename,labels (labels separated by ; | or spaces)")
    ev.add_argument("--set", action="store_true", help="the evaluation set: held-out and tuning figures")
    ev.add_argument("--set-csv", type=Path, default=Path("tests/fixtures/evalset.csv"), help="with --set")
    ev.add_argument("--set-dir", type=Path, default=Path(".cache/evalset"), help="with --set")
    ev.add_argument("--threshold", type=float, help="default: the version's per-class thresholds")
    ev.add_argument("--json", action="store_true")
    ev.set_defaults(run=cmd_evaluate)


def _add_export(sub: Any) -> None:
    ex = sub.add_parser("export", help="corrections as CSV, a Pascal VOC folder or COCO JSON")
    ex.add_argument("--format", choices=("csv", "voc", "coco"), default="csv")
    ex.add_argument("--out", required=True, help="a file (csv, coco) or a folder to create (voc)")
    ex.add_argument("--session", type=int, help="only this review session's saved photos")
    ex.add_argument(
        "--url", help="the gateway or training API (default: http://127.0.0.1:TAGLOOP_GATEWAY_PORT)"
    )
    ex.add_argument(
        "--token", help="a user's API token in team mode (default: TAGLOOP_TOKEN, else TAGLOOP_ADMIN_TOKEN)"
    )
    ex.set_defaults(run=cmd_export)


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
