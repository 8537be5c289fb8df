# Defaults of the native run's settings; anything already set in the environment wins.
# Sourced by scripts/run and scripts/test. The services read the same TAGLOOP_* names
# (shared/tagloop/settings.py and each service's config.py).
: "${TAGLOOP_GATEWAY_PORT:=8080}"
: "${TAGLOOP_INFERENCE_PORT:=8001}"
: "${TAGLOOP_TRAINING_PORT:=8002}"
# Inference replicas on consecutive ports from TAGLOOP_INFERENCE_PORT, behind the gateway.
: "${TAGLOOP_INFERENCE_REPLICAS:=1}"
# Not 6379: a system Redis (installed by apt and started by systemd) often holds that one.
: "${TAGLOOP_REDIS_PORT:=6389}"
: "${TAGLOOP_REDIS_URL:=redis://127.0.0.1:${TAGLOOP_REDIS_PORT}/0}"
: "${TAGLOOP_MODELS_DIR:=$PWD/models-volume}"
: "${TAGLOOP_DATA_DIR:=$PWD/data-volume}"
: "${TAGLOOP_RUN_DIR:=$PWD/.run}"
: "${TAGLOOP_INFERENCE_URL:=http://127.0.0.1:${TAGLOOP_INFERENCE_PORT}}"
export TAGLOOP_GATEWAY_PORT TAGLOOP_INFERENCE_PORT TAGLOOP_INFERENCE_REPLICAS TAGLOOP_TRAINING_PORT TAGLOOP_REDIS_PORT \
  TAGLOOP_REDIS_URL TAGLOOP_MODELS_DIR TAGLOOP_DATA_DIR TAGLOOP_RUN_DIR TAGLOOP_INFERENCE_URL
export PYTHONPATH="$PWD/inference-service:$PWD/training-service${PYTHONPATH:+:$PYTHONPATH}"
# TensorFlow's C++ log chatter buries the services' own logs.
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
export PYTHONUNBUFFERED=1
