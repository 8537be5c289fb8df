"""The web UI's list of classes (web/js/labels.js) is the model's (shared/tagloop/data/classes.json):
the same names in the same order, since the UI maps scores and hotkeys by position."""

import json
import re

from tagloop.classes import VOC_CLASSES

from tests.support.stack import REPO


def web_classes() -> list[str]:
    source = (REPO / "web" / "js" / "labels.js").read_text(encoding="utf-8")
    found = re.search(r"export const VOC_CLASSES = \[(.*?)\];", source, re.S)
    assert found, "labels.js no longer exports VOC_CLASSES as an array literal"
    return json.loads("[" + found.group(1).strip().rstrip(",") + "]")


def test_labels_js_lists_the_classes_of_classes_json() -> None:
    classes_json = json.loads(
        (REPO / "shared" / "tagloop" / "data" / "classes.json").read_text(encoding="utf-8")
    )
    names = classes_json if isinstance(classes_json, list) else classes_json["classes"]
    assert web_classes() == names == list(VOC_CLASSES)
