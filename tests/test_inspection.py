"""Looking inside: Grad-CAM and saliency on a network whose answer is known, and ``convstudio inspect``."""

from __future__ import annotations

import json
import re

import pytest
import torch
from PIL import Image

from convstudio.core.builder import build_model
from convstudio.core.cli.main import main
from convstudio.core.design import Design, InputSpec, save_design
from convstudio.core.inspection.images import PreparedImage, read_image_file
from convstudio.core.inspection.report import inspect_image
from convstudio.core.inspection.subject import Subject
from convstudio.core.layers import Conv2d, Flatten, Linear, MaxPool2d
from convstudio.core.training.run_folder import RunFolder, save_checkpoint
from convstudio.core.training.settings import TrainingSettings

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SIZE = 12
GREY = 128  # normalised to exactly 0 below: the background carries nothing


def _two_region_subject() -> Subject:
    """A network in which class 1 is "bright pixels" and class 0 is "dark pixels", and nothing else.

    conv1 (1x1) has two filters, +1 and -1, with ReLU: channel 0 is where the
    image is brighter than grey, channel 1 where it is darker. fc1 sums channel 0
    into class 1 and channel 1 into class 0.
    """
    design = Design(input=InputSpec(channels=1, height=SIZE, width=SIZE), layers=[
        Conv2d(out_channels=2, kernel_size=1, bias=False), Flatten(), Linear(out_features=2, activation="none"),
    ])
    model = build_model(design, seed=0).eval()
    with torch.no_grad():
        model.conv1.weight.copy_(torch.tensor([1.0, -1.0]).view(2, 1, 1, 1))
        weight = torch.zeros(2, 2, SIZE * SIZE)
        weight[1, 0] = 1.0  # class 1 <- channel 0 (bright)
        weight[0, 1] = 1.0  # class 0 <- channel 1 (dark)
        model.fc1.weight.copy_(weight.flatten(1))
        model.fc1.bias.zero_()
    return Subject(design, model, "constructed", ("dark", "bright"), (GREY / 255,), (0.5,))


def _image_with_regions() -> PreparedImage:
    """Grey, with a bright square at the top left and a dark square at the bottom right."""
    pixels = torch.full((1, SIZE, SIZE), GREY, dtype=torch.uint8)
    pixels[0, 1:5, 1:5] = 255
    pixels[0, 7:11, 6:10] = 0
    return PreparedImage(pixels, "two squares", "")


@pytest.mark.parametrize("class_index, rows, columns", [(1, (1, 5), (1, 5)), (0, (7, 11), (6, 10))],
                         ids=["bright-top-left", "dark-bottom-right"])
def test_grad_cam_and_saliency_find_the_region_that_carries_the_class(class_index, rows, columns):
    inspection = inspect_image(_two_region_subject(), _image_with_regions(), "conv1", class_index)
    region = torch.zeros(SIZE, SIZE, dtype=torch.bool)
    region[rows[0]:rows[1], columns[0]:columns[1]] = True
    peak_row, peak_column = divmod(int(torch.argmax(inspection.cam)), SIZE)
    assert region[peak_row, peak_column]
    assert float(inspection.cam[~region].max()) == 0  # no evidence for the class anywhere else
    saliency = inspection.saliency
    assert float(saliency[region].sum()) / float(saliency.sum()) > 0.99
    assert inspection.cam_layer == "conv1_relu"  # the layer's output after its activation


def test_the_clicked_units_effective_field_lies_in_its_theoretical_field():
    design = Design(input=InputSpec(channels=3, height=16, width=16), layers=[
        Conv2d(out_channels=4, kernel_size=3, padding=1), MaxPool2d(kernel_size=2),
        Conv2d(out_channels=4, kernel_size=3), Flatten(), Linear(out_features=3, activation="none"),
    ])
    subject = Subject(design, build_model(design, seed=1).eval(), "seeded", ("a", "b", "c"), (0.5,) * 3, (0.25,) * 3)
    pixels = torch.randint(0, 256, (3, 16, 16), generator=torch.Generator().manual_seed(3), dtype=torch.uint8)
    inspection = inspect_image(subject, PreparedImage(pixels, "noise", ""), "conv2", None, (2, 3))
    (top, bottom), (left, right) = inspection.box
    assert (bottom - top + 1, right - left + 1) == (8, 8)  # r = 4 + (3 - 1)*2
    rows, columns = torch.nonzero(inspection.effective_field, as_tuple=True)
    assert rows.numel() > 0
    assert top <= int(rows.min()) and int(rows.max()) <= bottom
    assert left <= int(columns.min()) and int(columns.max()) <= right
    assert [index for index, _, _ in inspection.top()] == torch.argsort(
        inspection.record.probabilities, descending=True).tolist()


def test_an_image_file_is_resized_to_the_input_and_says_so(tmp_path):
    path = tmp_path / "wide.png"
    Image.new("RGB", (40, 30), (200, 10, 10)).save(path)
    image = read_image_file(path, InputSpec(channels=1, height=16, width=16))
    assert tuple(image.pixels.shape) == (1, 16, 16) and image.pixels.dtype == torch.uint8
    assert "converted from RGB to L" in image.resize and "resized from 40x30 to 16x16" in image.resize


# -- the command line ------------------------------------------------------------------------

def _small_design() -> Design:
    return Design(name="small", input=InputSpec(channels=3, height=16, width=16), layers=[
        Conv2d(out_channels=6, kernel_size=3, padding=1), MaxPool2d(kernel_size=2),
        Conv2d(out_channels=8, kernel_size=3, padding=1), Flatten(), Linear(out_features=10, activation="none"),
    ], training={"dataset": "shapes", "data_limit": 40})


@pytest.fixture
def design_file(tmp_path):
    path = tmp_path / "small.json"
    save_design(_small_design(), path)
    return path


@pytest.fixture
def run_dir(tmp_path):
    """A run folder as training leaves it, with weights that differ from the seeded build."""
    design = _small_design()
    folder = RunFolder(tmp_path / "run")
    folder.create(design, TrainingSettings(dataset="shapes", data_limit=40))
    model = build_model(design, seed=5)
    save_checkpoint(folder.best_path, {"model": model.state_dict()})
    folder.write_status("finished")
    return folder.path


def test_inspect_writes_pictures_and_json_for_an_image_file(tmp_path, design_file, capsys):
    image = tmp_path / "photo.png"
    Image.new("RGB", (64, 48), (10, 120, 240)).save(image)
    out = tmp_path / "out"
    assert main(["inspect", str(design_file), "--image", str(image), "--layer", "conv1", "--class", "3",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "wrote" in printed and "resized from 64x48 to 16x16" in printed
    # without a dataset the classes have no names: each is said once, not "class 3 (class 3)"
    assert "%  class " in printed and not re.search(r"class (\d+) \(class \1\)", printed)
    data = json.loads((out / "inspection.json").read_text(encoding="utf-8"))
    assert len(data["top5"]) == 5
    probabilities = [entry["probability"] for entry in data["top5"]]
    assert probabilities == sorted(probabilities, reverse=True) and 0 < sum(probabilities) <= 1 + 1e-6
    assert data["class"]["index"] == 3 and data["gradcam"]["layer"] == "conv1_relu"
    names = [layer["name"] for layer in data["layers"]]
    assert names == ["conv1", "conv1_relu", "maxpool1", "conv2", "conv2_relu"]
    relu = data["layers"][1]
    assert relu["min"] >= 0 and 0 <= relu["zero_fraction"] <= 1 and relu["receptive_field"] == [3, 3]
    assert sum(relu["histogram"]["counts"]) == 6 * 16 * 16
    for name in data["files"]:
        assert (out / name).is_file()
    for name in ("image.png", "top5.png", "filters.png", "histograms.png", "saliency.png", "gradcam.png",
                 "receptive_field.png", "maps/conv2_relu.png", "filters/conv2.png"):
        with Image.open(out / name) as picture:
            assert picture.format == "PNG" and picture.width > 16


def test_inspect_a_runs_test_image(tmp_path, run_dir):
    out = tmp_path / "out"
    assert main(["inspect", str(run_dir), "--test-index", "2", "--out", str(out), "--sort-by-mean"]) == 0
    data = json.loads((out / "inspection.json").read_text(encoding="utf-8"))
    assert data["subject"].endswith("(best.pt)") and data["image"]["source"] == "test image 2 of shapes"
    assert "resized from 32x32 to 16x16" in data["image"]["resize"]  # the shapes are drawn at 32x32
    assert data["image"]["label_name"] is not None
    assert data["gradcam"]["layer"] == "conv2_relu"  # the last convolution by default


@pytest.mark.parametrize("arguments, message", [
    (["--image", "{bad_image}"], "not a readable image"),
    (["--image", "{missing}"], "no such image file"),
    (["--image", "{folder}"], "is a folder, not an image file"),
    (["--test-index", "5000"], "test image 5000 does not exist"),
    (["--test-index", "0", "--layer", "fc1"], "unknown layer 'fc1'"),
    (["--test-index", "0", "--class", "10"], "class 10 is out of range"),
    (["--test-index", "0", "--unit", "9,9", "--layer", "conv2"], "outside conv2_relu's 8x8 map: give a row from 0 to 7"),
])
def test_inspect_refuses_bad_input_with_exit_2(tmp_path, design_file, capsys, arguments, message):
    bad_image = tmp_path / "notes.png"
    bad_image.write_text("not a picture", encoding="utf-8")
    arguments = [argument.format(bad_image=bad_image, missing=tmp_path / "missing.png", folder=tmp_path)
                 for argument in arguments]
    assert main(["inspect", str(design_file), *arguments, "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error
    assert not (tmp_path / "out" / "inspection.json").exists()


def test_inspect_refuses_a_missing_source(tmp_path, capsys):
    assert main(["inspect", str(tmp_path / "nothing"), "--test-index", "0", "--out", str(tmp_path / "out")]) == 2
    assert "no such run folder or design file" in capsys.readouterr().err


def test_inspect_says_a_folder_is_not_a_run(tmp_path, capsys):
    (tmp_path / "photos").mkdir()
    assert main(["inspect", str(tmp_path / "photos"), "--test-index", "0", "--out", str(tmp_path / "out")]) == 2
    assert "photos is not a run folder (no design.json or settings.json)" in capsys.readouterr().err


def test_blocks_are_inspected_by_qualified_name_with_their_fields():
    from convstudio.core.layers import Concat, GlobalAvgPool, Residual

    design = Design(input=InputSpec(channels=3, height=16, width=16), layers=[
        Conv2d(out_channels=4, kernel_size=3, padding=1),
        Residual(body=[Conv2d(out_channels=4, kernel_size=3, padding=1),
                       Conv2d(out_channels=4, kernel_size=3, padding=1, activation="none")]),
        Concat(branches=[[Conv2d(out_channels=2, kernel_size=1)], [Conv2d(out_channels=2, kernel_size=5, padding=2)]]),
        GlobalAvgPool(), Flatten(), Linear(out_features=3, activation="none"),
    ])
    subject = Subject(design, build_model(design, seed=4).eval(), "blocks", ("a", "b", "c"), (0.5,) * 3, (0.25,) * 3)
    pixels = torch.randint(0, 256, (3, 16, 16), generator=torch.Generator().manual_seed(5), dtype=torch.uint8)
    image = PreparedImage(pixels, "noise", "")
    inspection = inspect_image(subject, image, "res1", None, (8, 8))
    assert inspection.cam_layer == "res1"  # the block's output, after its sum and activation
    fields = {layer.name: layer.field.sizes for layer in inspection.record.layers}
    assert fields["res1.body.conv1"] == (5, 5) and fields["res1"] == (7, 7) and fields["concat1"] == (11, 11)
    assert inspection.box == ((5, 11), (5, 11))
    rows, columns = torch.nonzero(inspection.effective_field, as_tuple=True)
    assert 5 <= int(rows.min()) and int(rows.max()) <= 11 and 5 <= int(columns.min()) and int(columns.max()) <= 11
    inner = inspect_image(subject, image, "concat1.branches.1.conv1")
    assert inner.cam_layer == "concat1.branches.1.conv1_relu"
    # By default the block that holds the last convolution: all its branches joined, not one
    # branch's 2 of 4 channels (once concat1.branches.1.conv1_relu).
    assert inspect_image(subject, image).cam_layer == "concat1"


def test_a_grey_design_inspects_a_colour_datasets_test_image(tmp_path, capsys):
    # The image is made grey to fit the design, so the colour dataset's three channel
    # statistics must not be broadcast onto it (once a PyTorch traceback).
    design = Design(name="grey", input=InputSpec(channels=1, height=16, width=16), layers=[
        Conv2d(out_channels=4, kernel_size=3, padding=1), Flatten(), Linear(out_features=10, activation="none"),
    ], training={"dataset": "shapes", "data_limit": 40})
    path = tmp_path / "grey.json"
    save_design(design, path)
    out = tmp_path / "out"
    assert main(["inspect", str(path), "--test-index", "0", "--out", str(out)]) == 0
    data = json.loads((out / "inspection.json").read_text(encoding="utf-8"))
    assert "converted from 3 to 1 channels" in data["image"]["resize"]


def test_inspect_refuses_a_design_without_class_scores_in_one_sentence(tmp_path, capsys):
    design = Design(name="maps", input=InputSpec(channels=3, height=16, width=16),
                    layers=[Conv2d(out_channels=4, kernel_size=3, padding=1)])
    path = tmp_path / "maps.json"
    save_design(design, path)
    image = tmp_path / "photo.png"
    Image.new("RGB", (16, 16), (10, 120, 240)).save(image)
    assert main(["inspect", str(path), "--image", str(image), "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert "maps.json: the design outputs 4x16x16 values per image, not one score per class" in error
    assert "Traceback" not in error
