"""Renders the gateway's nginx config for the native run into $TAGLOOP_RUN_DIR/nginx/.

Only ${TAGLOOP_*} names are replaced, as the official nginx image's envsubst does with
NGINX_ENVSUBST_FILTER=TAGLOOP_, so the same template serves both runs.
"""

import os
import re
import sys
from pathlib import Path

from tagloop.settings import CommonSettings

HERE = Path(__file__).resolve().parent
PLACEHOLDER = re.compile(r"\$\{(TAGLOOP_[A-Z0-9_]+)\}")
SERVER_CHECKS = "max_fails=2 fail_timeout=5s"
"""Passive health check of each inference replica: after 2 failed connections it is left
out for 5 s, then tried again."""


def native_values(env: dict[str, str]) -> dict[str, str]:
    """The template's values for a native run: defaults, then the environment."""
    settings = CommonSettings.model_validate(
        {k.removeprefix("TAGLOOP_").lower(): v for k, v in env.items() if k.startswith("TAGLOOP_")}
    )
    defaults = {
        "TAGLOOP_GATEWAY_PORT": str(settings.gateway_port),
        "TAGLOOP_WEB_ROOT": str(HERE.parent / "web"),
        "TAGLOOP_RESOLVER": "127.0.0.1",
        "TAGLOOP_INFERENCE_GROUP": inference_group(settings.inference_port, settings.inference_replicas),
        "TAGLOOP_INFERENCE_ADDR": "tagloop_inference",
        "TAGLOOP_TRAINING_ADDR": f"127.0.0.1:{settings.training_port}",
        "TAGLOOP_RUN_DIR": str(settings.run_dir.resolve()),
        "TAGLOOP_NGINX_MIME_TYPES": "/etc/nginx/mime.types",
        "TAGLOOP_NGINX_ACCESS_LOG": "/dev/stdout",
        # Rate limit of /predict and /batch_predict per client address (nginx limit_req).
        "TAGLOOP_PREDICT_RATE": "30r/s",
        "TAGLOOP_PREDICT_BURST": "60",
        # As root, nginx's workers would otherwise run as nobody, who cannot write
        # the temp folders under the run dir (request bodies over 1 MB go there).
        "TAGLOOP_NGINX_USER": "user root;" if os.geteuid() == 0 else "",
    }
    return {**defaults, **{k: v for k, v in env.items() if k.startswith("TAGLOOP_")}}


def inference_group(first_port: int, replicas: int) -> str:
    """The upstream group of the inference replicas, on consecutive ports, on one line."""
    servers = " ".join(f"server 127.0.0.1:{first_port + i} {SERVER_CHECKS};" for i in range(replicas))
    return f"upstream tagloop_inference {{ least_conn; {servers} }}"


def render(template: str, values: dict[str, str]) -> str:
    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"{name} is used by the gateway template but has no value")
        return values[name]

    return PLACEHOLDER.sub(substitute, template)


def main() -> int:
    values = native_values(dict(os.environ))
    out = Path(values["TAGLOOP_RUN_DIR"]) / "nginx"
    for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    for name, target in (("tagloop.conf.template", "tagloop.conf"), ("nginx.conf.template", "nginx.conf")):
        (out / target).write_text(render((HERE / name).read_text(), values))
    print(f"gateway config written to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
