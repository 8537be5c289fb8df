// The 20 Pascal VOC classes, in the order of the model's output (shared/tagloop/data/classes.json).
export const VOC_CLASSES = [
  "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
  "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
  "train", "tvmonitor",
];

/**
 * Labels whose score reaches the threshold, most confident first: [{label, confidence}].
 * `threshold` is one number, or {label: threshold} (a version's per-class thresholds;
 * 0.5 for a label it does not name).
 */
export function predictionsAt(scores, threshold) {
  const at = (label) => (typeof threshold === "number" ? threshold : threshold?.[label] ?? 0.5);
  return Object.entries(scores || {})
    .filter(([label, p]) => p >= at(label))
    .map(([label, confidence]) => ({ label, confidence }))
    .sort((a, b) => b.confidence - a.confidence);
}

/** Scores of a reply; falls back to its predictions when "scores" is missing. */
export function scoresOf(reply) {
  if (reply && reply.scores && typeof reply.scores === "object") return reply.scores;
  const scores = {};
  for (const p of reply?.predictions || []) scores[p.label] = p.confidence;
  return scores;
}
