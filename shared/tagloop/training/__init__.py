"""Training the top of a tagloop model on cached backbone features (needs TensorFlow).

features.py caches pooled features per (image sha256, backbone id); fit.py trains the
trainable head of the top model with focal loss; voc.py reads a Pascal VOC folder;
importer.py publishes an external .h5/.keras file as a store version.
"""
