// Spanish and English strings. Static HTML carries data-i18n="key" (text) and
// data-i18n-aria-label="key"; code calls t(key, {vars}).

import { EXTRA_STRINGS } from "./i18n-review.js";
import { TEAM_STRINGS } from "./i18n-team.js";

const STORAGE_KEY = "tagloop.lang";

const STRINGS = {
  en: {
    "lang.label": "Language",
    "tabs.label": "Sections",
    "tabs.individual": "Individual",
    "tabs.batch": "Batch",
    "tabs.corrections": "Corrections",
    "tabs.models": "Models",
    "common.threshold": "Threshold",
    "common.refresh": "Refresh",
    "common.prev": "Previous",
    "common.next": "Next",
    "common.cancel": "Cancel",
    "common.close": "Close",
    "common.ok": "OK",
    "common.version": "v{v}",
    "health.checking": "Checking…",
    "health.ok": "All services up",
    "health.degraded": "Some services are down",
    "health.converging": "The new model version is loading",
    "health.stale": "An inference replica could not load the active version",
    "health.replicas": "{n} replicas",
    "health.unreachable": "Server unreachable",
    "health.no_model": "no model",
    "health.model": "Model v{v}",
    "health.part.inference": "Inference",
    "health.part.training_api": "Training API",
    "health.part.redis": "Redis",
    "health.part.workers": "Training workers",
    "health.up": "up",
    "health.down": "down",
    "health.workers": "{n} running",
    "code.disk_full": "The data disk is full: nothing was stored. Free some space or grow the volume, then try again.",
    "health.part.disk": "Data disk",
    "health.disk_free": "{mb} MB free",
    "health.disk_low": "almost full: {mb} MB free on {volume}; free some space there",
    "health.reconnecting": "Reconnecting… a part of tagloop is restarting.",
    "health.reconnecting_saves": "Reconnecting… {n} save(s) kept in this page will be sent when the server is back.",
    "ind.title": "Classify one image",
    "ind.drop": "Choose an image, drop it here or paste it (Ctrl+V)",
    "ind.predictions": "Predictions",
    "ind.empty": "No image yet.",
    "ind.none_above": "No label reaches the threshold.",
    "ind.correct_labels": "Correct labels",
    "ind.save": "Save correction",
    "ind.reset": "Reset to predictions",
    "ind.retrain": "Retrain model",
    "ind.predicting": "Predicting…",
    "ind.model_used": "Model v{v} · {file}",
    "ind.saving": "Saving…",
    "ind.saved": "Correction saved for {file}: {labels}.",
    "ind.no_labels": "(no labels)",
    "ind.not_image": "That file is not an image.",
    "ind.paste_none": "The clipboard holds no image.",
    "ind.repredicting": "Predicting again with the new model…",
    "ind.changes": "Changes after retraining (v{from} → v{to}):",
    "ind.added": "added",
    "ind.removed": "removed",
    "ind.no_changes": "No label changed at this threshold (v{from} → v{to}).",
    "retrain.title": "Retrain the model?",
    "retrain.body": "A new version is trained from every saved correction. It goes live only if it is not worse than the current one.",
    "retrain.epochs": "Epochs",
    "retrain.confirm": "Retrain",
    "job.title": "Training",
    "job.queued": "Waiting in the queue…",
    "job.epoch": "Epoch {e} of {n}",
    "job.trained": "trained {e} epochs, loss {l}",
    "job.images": "{d} of {n} images",
    "job.cancel": "Cancel training",
    "job.auto": "A retrain started automatically after the latest corrections.",
    "job.loss": "loss {l}",
    "job.elapsed": "{s} s",
    "job.stage.queued": "queued",
    "job.stage.started": "started",
    "job.stage.loading": "loading",
    "job.stage.features": "computing features",
    "job.stage.training": "training",
    "job.stage.evaluating": "evaluating",
    "job.stage.publishing": "publishing",
    "job.stage.scoring": "scoring every version",
    "job.stage.finished": "finished",
    "job.stage.failed": "failed",
    "job.promoted": "Version {v} is now live: it learned from {n} corrected photos.",
    "job.not_promoted": "Version {v} was trained from {n} corrected photos but not put in use: {why}",
    "gate.not_worse": "On {n} held-out photos it is not clearly worse than the current model (log-loss difference {d}, 95% interval {lo} to {hi}).",
    "gate.significantly_worse": "On {n} held-out photos it is clearly worse than the current model (log-loss difference {d}, 95% interval {lo} to {hi}).",
    "gate.reproduced": "Too few held-out photos to judge by loss: it gets {c} of {n} checked photos right, the current model {p}.",
    "gate.not_reproduced": "It gets only {c} of {n} checked photos right, where the current model gets {p}.",
    "gate.anchors_changed": "It would change the labels of {k} of {a} photos nobody corrected (at most {m} allowed).",
    "gate.forced": "It was put in use on request, whatever the check said.",
    "models.gate": "Check",
    "models.scored_on": "Scored on",
    "models.scoreboard": "Every version is scored on the same {n} held-out corrected photos (after the retrain that made version {v}), so any two can be compared.",
    "models.shared_set": "the shared set of {n} photos",
    "models.shared_seen": "the shared set of {n} photos; it learned {k} of them (on the other {u}: mAP {map}, F1 {f1})",
    "models.shared_all_seen": "the shared set of {n} photos; it learned all of them",
    "models.own_check": "only its own check (not scored on the shared set)",
    "job.failed": "Training failed: {error}",
    "job.stopped": "Training stopped: {error}",
    "job.lost": "Lost track of the training job: {error}",
    "batch.title": "Classify many images",
    "batch.drop": "Choose images or drop them (or a folder) here",
    "batch.selected": "Images selected: {n} ({size}).",
    "batch.run": "Predict all",
    "batch.csv": "Download CSV",
    "batch.clear": "Clear",
    "batch.uploading": "Uploading",
    "batch.processing": "Processing…",
    "batch.done": "{ok} of {n} images classified, {bad} with errors.",
    "batch.correct": "Correct",
    "batch.none": "no label",
    "batch.skipped": "Skipped (not images): {n}.",
    "corr.title": "Corrections",
    "corr.filter": "Filter by label",
    "corr.all": "All labels",
    "corr.total": "Total corrections: {n}",
    "corr.page": "{from}–{to} of {n}",
    "corr.empty": "No corrections yet.",
    "corr.history": "History",
    "corr.history_of": "{file} · {n} corrections",
    "corr.by_model": "model v{v}",
    "corr.open": "Open history",
    "models.title": "Model versions",
    "models.active": "active",
    "models.activate": "Activate",
    "models.activating": "Activating version {v}…",
    "models.activated": "Version {v} is now active.",
    "models.created": "Created",
    "models.parent": "Parent",
    "models.samples": "Samples",
    "models.backbone": "Backbone",
    "models.prior": "Prior",
    "models.prior.imagenet+coco": "ImageNet + COCO detector",
    "models.prior.imagenet": "ImageNet",
    "models.prior.none": "none (imported)",
    "models.map": "mAP",
    "models.f1": "F1 per class",
    "models.ap": "Average precision per class (on the evaluation corrections)",
    "models.chart_ap": "Bar chart of average precision per class for version {v}",
    "models.f1_micro": "F1 (micro)",
    "models.eval_loss": "Evaluation log-loss",
    "models.vs_parent": "parent",
    "models.loss": "Training loss",
    "models.promoted": "promoted",
    "models.not_promoted": "not promoted",
    "models.none": "No versions yet.",
    "models.no_metrics": "No metrics (not trained from corrections).",
    "models.chart_f1": "Bar chart of F1 per class for version {v}",
    "models.chart_loss": "Loss curve for version {v}",
    "models.corrections": "Corrected photos",
    "models.changes": "{fixed} fixed, {broke} broken, {right} right, {wrong} still wrong",
    "models.thresholds": "Own thresholds",
    "models.evaluation_set": "Photos nobody tuned on",
    "models.evaluation_set_figures": "{n} held-out photos: mAP {map}, F1 {f1}, precision {p}, recall {r} (tuning part, not a result: {tn} photos, F1 {tf1})",
    "token.title": "Access token needed",
    "token.label": "Token",
    "err.network": "Cannot reach the server. Check that tagloop is running.",
    "err.status": "The server answered with an error ({status}).",
    "err.413": "The upload is too large.",
    "err.415": "That file type is not supported.",
    "err.502": "A service is not answering (502).",
    "err.503": "A service is not available right now (503).",
    "err.504": "A service took too long to answer (504).",
    "err.401": "Access denied: a valid token is needed.",
  },
  es: {
    "lang.label": "Idioma",
    "tabs.label": "Secciones",
    "tabs.individual": "Individual",
    "tabs.batch": "Lote",
    "tabs.corrections": "Correcciones",
    "tabs.models": "Modelos",
    "common.threshold": "Umbral",
    "common.refresh": "Actualizar",
    "common.prev": "Anterior",
    "common.next": "Siguiente",
    "common.cancel": "Cancelar",
    "common.close": "Cerrar",
    "common.ok": "Aceptar",
    "common.version": "v{v}",
    "health.checking": "Comprobando…",
    "health.ok": "Todos los servicios funcionan",
    "health.degraded": "Algunos servicios no funcionan",
    "health.converging": "La nueva versión del modelo se está cargando",
    "health.stale": "Una réplica de inferencia no pudo cargar la versión activa",
    "health.replicas": "{n} réplicas",
    "health.unreachable": "Servidor inaccesible",
    "health.no_model": "sin modelo",
    "health.model": "Modelo v{v}",
    "health.part.inference": "Inferencia",
    "health.part.training_api": "API de entrenamiento",
    "health.part.redis": "Redis",
    "health.part.workers": "Workers de entrenamiento",
    "health.up": "activo",
    "health.down": "caído",
    "health.workers": "{n} en marcha",
    "code.disk_full": "El disco de datos está lleno: no se ha guardado nada. Libera espacio o amplía el volumen y vuelve a intentarlo.",
    "health.part.disk": "Disco de datos",
    "health.disk_free": "{mb} MB libres",
    "health.disk_low": "casi lleno: {mb} MB libres en {volume}; libera espacio allí",
    "health.reconnecting": "Reconectando… una parte de tagloop se está reiniciando.",
    "health.reconnecting_saves": "Reconectando… {n} guardado(s) retenidos en esta página se enviarán cuando el servidor vuelva.",
    "ind.title": "Clasificar una imagen",
    "ind.drop": "Elige una imagen, suéltala aquí o pégala (Ctrl+V)",
    "ind.predictions": "Predicciones",
    "ind.empty": "Aún no hay imagen.",
    "ind.none_above": "Ninguna etiqueta alcanza el umbral.",
    "ind.correct_labels": "Etiquetas correctas",
    "ind.save": "Guardar corrección",
    "ind.reset": "Volver a las predicciones",
    "ind.retrain": "Reentrenar modelo",
    "ind.predicting": "Prediciendo…",
    "ind.model_used": "Modelo v{v} · {file}",
    "ind.saving": "Guardando…",
    "ind.saved": "Corrección guardada para {file}: {labels}.",
    "ind.no_labels": "(sin etiquetas)",
    "ind.not_image": "Ese archivo no es una imagen.",
    "ind.paste_none": "El portapapeles no contiene una imagen.",
    "ind.repredicting": "Prediciendo de nuevo con el modelo nuevo…",
    "ind.changes": "Cambios tras reentrenar (v{from} → v{to}):",
    "ind.added": "añadida",
    "ind.removed": "quitada",
    "ind.no_changes": "Ninguna etiqueta cambió con este umbral (v{from} → v{to}).",
    "retrain.title": "¿Reentrenar el modelo?",
    "retrain.body": "Se entrena una versión nueva con todas las correcciones guardadas. Solo se activa si no es peor que la actual.",
    "retrain.epochs": "Épocas",
    "retrain.confirm": "Reentrenar",
    "job.title": "Entrenamiento",
    "job.queued": "Esperando en la cola…",
    "job.epoch": "Época {e} de {n}",
    "job.trained": "entrenado {e} épocas, pérdida {l}",
    "job.images": "{d} de {n} imágenes",
    "job.cancel": "Cancelar entrenamiento",
    "job.auto": "Se inició un reentrenamiento automático tras las últimas correcciones.",
    "job.loss": "pérdida {l}",
    "job.elapsed": "{s} s",
    "job.stage.queued": "en cola",
    "job.stage.started": "iniciado",
    "job.stage.loading": "cargando",
    "job.stage.features": "calculando características",
    "job.stage.training": "entrenando",
    "job.stage.evaluating": "evaluando",
    "job.stage.publishing": "publicando",
    "job.stage.scoring": "puntuando todas las versiones",
    "job.stage.finished": "terminado",
    "job.stage.failed": "fallido",
    "job.promoted": "La versión {v} ya está activa: aprendió de {n} fotos corregidas.",
    "job.not_promoted": "La versión {v} se entrenó con {n} fotos corregidas pero no se puso en uso: {why}",
    "gate.not_worse": "En {n} fotos reservadas no es claramente peor que el modelo actual (diferencia de log-loss {d}, intervalo del 95 % de {lo} a {hi}).",
    "gate.significantly_worse": "En {n} fotos reservadas es claramente peor que el modelo actual (diferencia de log-loss {d}, intervalo del 95 % de {lo} a {hi}).",
    "gate.reproduced": "Hay pocas fotos reservadas para juzgar por la pérdida: acierta {c} de {n} fotos comprobadas; el modelo actual, {p}.",
    "gate.not_reproduced": "Solo acierta {c} de {n} fotos comprobadas, donde el modelo actual acierta {p}.",
    "gate.anchors_changed": "Cambiaría las etiquetas de {k} de {a} fotos que nadie corrigió (se permiten como mucho {m}).",
    "gate.forced": "Se puso en uso a petición, dijera lo que dijera la comprobación.",
    "models.gate": "Comprobación",
    "models.scored_on": "Evaluada con",
    "models.scoreboard": "Todas las versiones se evalúan con las mismas {n} fotos corregidas reservadas (tras el reentrenamiento que creó la versión {v}), así que cualquier par se puede comparar.",
    "models.shared_set": "el conjunto común de {n} fotos",
    "models.shared_seen": "el conjunto común de {n} fotos; aprendió {k} de ellas (en las otras {u}: mAP {map}, F1 {f1})",
    "models.shared_all_seen": "el conjunto común de {n} fotos; las aprendió todas",
    "models.own_check": "solo su propia comprobación (no evaluada con el conjunto común)",
    "job.failed": "El entrenamiento falló: {error}",
    "job.stopped": "El entrenamiento se detuvo: {error}",
    "job.lost": "Se perdió el rastro del entrenamiento: {error}",
    "batch.title": "Clasificar muchas imágenes",
    "batch.drop": "Elige imágenes o suéltalas (o una carpeta) aquí",
    "batch.selected": "Imágenes seleccionadas: {n} ({size}).",
    "batch.run": "Predecir todo",
    "batch.csv": "Descargar CSV",
    "batch.clear": "Vaciar",
    "batch.uploading": "Subiendo",
    "batch.processing": "Procesando…",
    "batch.done": "{ok} de {n} imágenes clasificadas, {bad} con errores.",
    "batch.correct": "Corregir",
    "batch.none": "sin etiqueta",
    "batch.skipped": "Omitidos (no son imágenes): {n}.",
    "corr.title": "Correcciones",
    "corr.filter": "Filtrar por etiqueta",
    "corr.all": "Todas las etiquetas",
    "corr.total": "Correcciones en total: {n}",
    "corr.page": "{from}–{to} de {n}",
    "corr.empty": "Aún no hay correcciones.",
    "corr.history": "Historial",
    "corr.history_of": "{file} · {n} correcciones",
    "corr.by_model": "modelo v{v}",
    "corr.open": "Ver historial",
    "models.title": "Versiones del modelo",
    "models.active": "activa",
    "models.activate": "Activar",
    "models.activating": "Activando la versión {v}…",
    "models.activated": "La versión {v} ya está activa.",
    "models.created": "Creada",
    "models.parent": "Padre",
    "models.samples": "Muestras",
    "models.backbone": "Backbone",
    "models.prior": "Conocimiento previo",
    "models.prior.imagenet+coco": "ImageNet + detector COCO",
    "models.prior.imagenet": "ImageNet",
    "models.prior.none": "ninguno (importado)",
    "models.map": "mAP",
    "models.f1": "F1 por clase",
    "models.ap": "Precisión media por clase (en las correcciones de evaluación)",
    "models.chart_ap": "Gráfico de barras de la precisión media por clase de la versión {v}",
    "models.f1_micro": "F1 (micro)",
    "models.eval_loss": "Log-loss de evaluación",
    "models.vs_parent": "padre",
    "models.loss": "Pérdida de entrenamiento",
    "models.promoted": "promovida",
    "models.not_promoted": "no promovida",
    "models.none": "Aún no hay versiones.",
    "models.no_metrics": "Sin métricas (no se entrenó con correcciones).",
    "models.chart_f1": "Gráfico de barras de F1 por clase de la versión {v}",
    "models.chart_loss": "Curva de pérdida de la versión {v}",
    "models.corrections": "Fotos corregidas",
    "models.changes": "{fixed} arregladas, {broke} estropeadas, {right} bien, {wrong} aún mal",
    "models.thresholds": "Umbrales propios",
    "models.evaluation_set": "Fotos con las que no se ajustó nada",
    "models.evaluation_set_figures": "{n} fotos reservadas: mAP {map}, F1 {f1}, precisión {p}, exhaustividad {r} (parte de ajuste, no es un resultado: {tn} fotos, F1 {tf1})",
    "token.title": "Se necesita un token de acceso",
    "token.label": "Token",
    "err.network": "No se puede contactar con el servidor. Comprueba que tagloop está en marcha.",
    "err.status": "El servidor respondió con un error ({status}).",
    "err.413": "El archivo es demasiado grande.",
    "err.415": "Ese tipo de archivo no está admitido.",
    "err.502": "Un servicio no responde (502).",
    "err.503": "Un servicio no está disponible ahora (503).",
    "err.504": "Un servicio tardó demasiado en responder (504).",
    "err.401": "Acceso denegado: hace falta un token válido.",
  },
};

// Display names of the 20 VOC classes; the API always uses the English keys.
const CLASS_NAMES = {
  en: {
    aeroplane: "aeroplane", bicycle: "bicycle", bird: "bird", boat: "boat", bottle: "bottle",
    bus: "bus", car: "car", cat: "cat", chair: "chair", cow: "cow", diningtable: "dining table",
    dog: "dog", horse: "horse", motorbike: "motorbike", person: "person",
    pottedplant: "potted plant", sheep: "sheep", sofa: "sofa", train: "train",
    tvmonitor: "TV monitor",
  },
  es: {
    aeroplane: "avión", bicycle: "bicicleta", bird: "pájaro", boat: "barco", bottle: "botella",
    bus: "autobús", car: "coche", cat: "gato", chair: "silla", cow: "vaca",
    diningtable: "mesa de comedor", dog: "perro", horse: "caballo", motorbike: "moto",
    person: "persona", pottedplant: "planta en maceta", sheep: "oveja", sofa: "sofá",
    train: "tren", tvmonitor: "monitor de TV",
  },
};

for (const code of Object.keys(STRINGS)) Object.assign(STRINGS[code], EXTRA_STRINGS[code], TEAM_STRINGS[code]);

export const LANGS = Object.keys(STRINGS);
let current = pickInitialLang();
const listeners = [];

function pickInitialLang() {
  const saved = localStorage.getItem(STORAGE_KEY);
  if (saved && STRINGS[saved]) return saved;
  const browser = (navigator.language || "en").slice(0, 2).toLowerCase();
  return STRINGS[browser] ? browser : "en";
}

export function lang() {
  return current;
}

export function t(key, vars = {}) {
  const text = STRINGS[current][key] ?? STRINGS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
}

/** Whether the current language has its own text for `key`. */
export function hasText(key) {
  return key in STRINGS[current];
}

export function className(label) {
  return CLASS_NAMES[current][label] ?? label;
}

export function onLangChange(fn) {
  listeners.push(fn);
}

export function setLang(code) {
  if (!STRINGS[code]) return;
  current = code;
  localStorage.setItem(STORAGE_KEY, code);
  applyStatic();
  listeners.forEach((fn) => fn(code));
}

/** Translate the static markup (data-i18n attributes). */
export function applyStatic(root = document) {
  document.documentElement.lang = current;
  root.querySelectorAll("[data-i18n]").forEach((el) => {
    el.textContent = t(el.dataset.i18n);
  });
  root.querySelectorAll("[data-i18n-aria-label]").forEach((el) => {
    el.setAttribute("aria-label", t(el.dataset.i18nAriaLabel));
  });
}

export function formatDate(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toLocaleString(current === "es" ? "es-ES" : "en-GB", {
    dateStyle: "medium",
    timeStyle: "short",
  });
}

/** A number with `digits` decimals in the UI's language (es: a decimal comma). */
export function formatNumber(x, digits) {
  return Number(x).toLocaleString(current === "es" ? "es-ES" : "en-GB", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

/** A sentence the server sent with its stable code: its translation when the UI is not in English. */
export function serverText(message, code) {
  return code && current !== "en" && hasText(`code.${code}`) ? t(`code.${code}`) : message;
}

/**
 * A review session's name as shown: the names the app gives ("Review 3", "Batch <date>") in
 * the UI's language, a name a person typed as it is.
 */
export function sessionName(name) {
  const review = /^Review (\d+)$/.exec(name || "");
  if (review) return t("rev.session_name", { n: review[1] });
  const batch = /^Batch (.+)$/.exec(name || "");
  return batch ? t("rev.batch_session_name", { when: batch[1] }) : name;
}

export function formatPercent(p) {
  return `${Math.round(p * 100)} %`;
}
