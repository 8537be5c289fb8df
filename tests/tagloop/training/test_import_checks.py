"""Model files checked before they are loaded: the weights a .keras config declares and the
size of each member, read without TensorFlow (tagloop.training.importer.check_model_file)."""

from pathlib import Path

import pytest
from tagloop.training.importer import ImportLimits, ImportRefusedError, address_space_limit, check_model_file

from tests.support.testfiles import crafted_keras, keras_config


def test_check_accepts_a_keras_file_of_ordinary_size(tmp_path: Path) -> None:
    model = crafted_keras(tmp_path / "ok.keras", config=keras_config(inputs=1280, units=20), weights_mib=1)
    check_model_file(model, name="ok.keras")


def test_check_refuses_a_keras_whose_config_declares_a_huge_layer(tmp_path: Path) -> None:
    model = crafted_keras(tmp_path / "huge.keras", config=keras_config(inputs=100_000, units=1_000_000))
    assert model.stat().st_size < 4096
    with pytest.raises(
        ImportRefusedError, match=r"'huge.keras' is refused: its layers declare weights of .* 256 MiB"
    ):
        check_model_file(model, name="huge.keras")


def test_check_refuses_a_member_larger_than_any_weights(tmp_path: Path) -> None:
    limits = ImportLimits(weight_bytes=8 * 1024 * 1024)
    model = crafted_keras(
        tmp_path / "padded.keras", config=keras_config(inputs=1280, units=20), weights_mib=32
    )
    with pytest.raises(
        ImportRefusedError, match=r"its member 'model\.weights\.h5' unpacks to 32 MiB; the limit is 24 MiB"
    ):
        check_model_file(model, name="padded.keras", limits=limits)


def test_check_refuses_a_weighted_layer_without_its_input_shape(tmp_path: Path) -> None:
    config = keras_config(inputs=10, units=10)
    del config["config"]["layers"][1]["build_config"]
    model = crafted_keras(tmp_path / "unbuilt.keras", config=config)
    with pytest.raises(ImportRefusedError, match="'dense_1' does not say its input shape"):
        check_model_file(model, name="unbuilt.keras")


@pytest.mark.parametrize("units", [-1, "9" * 5, 1.5, True])
def test_check_refuses_a_layer_size_that_is_not_a_size(tmp_path: Path, units: object) -> None:
    config = keras_config(inputs=10, units=10)
    config["config"]["layers"][1]["config"]["units"] = units
    model = crafted_keras(tmp_path / "odd.keras", config=config)
    with pytest.raises(ImportRefusedError, match="not a size"):
        check_model_file(model, name="odd.keras")


def test_address_space_limit_turns_a_huge_allocation_into_memory_error() -> None:
    """The import's backstop: under the limit an allocation past it fails, and afterwards
    the process may allocate again."""
    with pytest.raises(MemoryError), address_space_limit(256 * 1024 * 1024):
        bytearray(1024 * 1024 * 1024)
    assert len(bytearray(512 * 1024 * 1024)) == 512 * 1024 * 1024
