"""Training the top of a tagloop model on cached backbone features (needs TensorFlow).

retrain.py is the one retrain, used by the worker's job and by `tagloop train`: it fits a
candidate (candidate.py, with fit.py's TopTrainer), judges it by the one promotion rule
(gate.py), calibrates per-class thresholds (thresholds.py) and publishes it.
features.py caches pooled features per (image sha256, backbone id); loaded.py holds a
model loaded for that (model, top, backbone, trainer); voc.py reads a Pascal VOC folder
and offline.py trains and evaluates from one; importer.py publishes an external
.h5/.keras file as a store version. gate.py and thresholds.py need only numpy.
"""
