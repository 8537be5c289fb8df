"""Training the top of a tagloop model on cached backbone features (needs TensorFlow).

features.py caches pooled features per (image sha256, backbone id); fit.py trains the
trainable head of the top model with focal loss; loaded.py holds a model loaded for
that (model, top, backbone, trainer); voc.py reads a Pascal VOC folder;
importer.py publishes an external .h5/.keras file as a store version.
"""
