# The native run's settings as TAGLOOP_* variables; anything already set in the environment
# wins. Sourced by scripts/run, scripts/test and the tools' scripts after scripts/setup. The
# defaults live in one place, shared/tagloop/settings.py (CommonSettings), which prints them.
eval "$(.venv/bin/python -m tagloop.settings)"
# TensorFlow's C++ log chatter buries the services' own logs.
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
export PYTHONUNBUFFERED=1
