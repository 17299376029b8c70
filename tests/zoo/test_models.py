import numpy as np
import pytest
import torch

from tests.helpers import spy_on_device_seeding
from unboxed import zoo


def _linear_shapes(model):
    return [(m.in_features, m.out_features) for m in model if isinstance(m, torch.nn.Linear)]


def test_mlp_default_is_the_papers_784_256_64_10():
    model = zoo.mlp()
    assert _linear_shapes(model) == [(784, 256), (256, 64), (64, 10)]
    assert [name for name, _ in model.named_children()] == ["fc1", "act1", "fc2", "act2", "fc3"]
    assert model.input_shape == (784,)


@pytest.mark.parametrize(
    "activation", ["relu", "sigmoid", "tanh", "elu", "gelu", "silu", "leaky_relu"]
)
def test_mlp_activations(activation):
    model = zoo.mlp((8,), activation, n_features=5, n_classes=3)
    assert isinstance(model.act1, zoo.ACTIVATIONS[activation])
    assert model(torch.zeros(2, 5)).shape == (2, 3)


@pytest.mark.parametrize(
    ("input_shape", "block2"), [((1, 28, 28), (16, 5, 5)), ((1, 8, 8), (16, 2, 2))]
)
def test_lenet_shapes(input_shape, block2):
    model = zoo.lenet(input_shape=input_shape)
    x = torch.zeros(3, *input_shape)
    assert model.conv1.out_channels == 6 and model.conv1.kernel_size == (5, 5)
    assert model.conv2.out_channels == 16 and model.conv2.kernel_size == (5, 5)
    assert model[:6](x).shape == (3, *block2)
    assert _linear_shapes(model)[1:] == [(120, 84), (84, 10)]
    assert model(x).shape == (3, 10)


def test_same_seed_same_weights_and_no_global_seeding():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = zoo.lenet(random_state=4)
    after = torch.rand(1)
    b = zoo.lenet(random_state=4)
    c = zoo.lenet(random_state=5)
    assert torch.equal(before, after)  # building a model leaves torch's generator alone
    for (name, pa), pb, pc in zip(
        a.state_dict().items(), b.state_dict().values(), c.state_dict().values(), strict=True
    ):
        assert torch.equal(pa, pb), name
        assert not torch.equal(pa, pc), name


def test_build_adapts_to_the_data():
    assert zoo.build("mlp", input_shape=(1, 8, 8), n_classes=10).input_shape == (64,)
    assert zoo.build("lenet", input_shape=(8, 8), n_classes=10).input_shape == (1, 8, 8)
    with pytest.raises(ValueError, match="lenet needs image data"):
        zoo.build("lenet", input_shape=(20,), n_classes=2)
    with pytest.raises(ValueError, match="unknown architecture"):
        zoo.build("resnet", input_shape=(20,), n_classes=2)


def test_bad_arguments():
    with pytest.raises(ValueError, match="activation must be one of"):
        zoo.mlp(activation="swish")
    with pytest.raises(ValueError, match="n_classes must be an int >= 2"):
        zoo.mlp(n_classes=1)
    with pytest.raises(ValueError, match=r"input_shape \(C, H, W\)"):
        zoo.lenet(input_shape=(28, 28))


def test_a_numpy_generator_seeds_the_weights_and_is_recorded_as_an_int():
    a = zoo.mlp((4,), n_features=3, n_classes=2, random_state=np.random.default_rng(7))
    b = zoo.mlp((4,), n_features=3, n_classes=2, random_state=np.random.default_rng(7))
    assert isinstance(a.config["kwargs"]["random_state"], int)
    assert torch.equal(a.fc1.weight, b.fc1.weight)


@pytest.mark.parametrize("input_shape", [(), 64, (8, -8), (8.5, 8), (True, 8)])
def test_build_refuses_shapes_that_are_not_positive_ints(input_shape):
    with pytest.raises(ValueError, match="input_shape must be a non-empty tuple"):
        zoo.build("mlp", input_shape=input_shape, n_classes=10)  # () built a 1-input MLP


@pytest.mark.parametrize("widths", [8, "64", None])
def test_mlp_widths_must_be_a_sequence(widths):
    with pytest.raises(ValueError, match="widths must be a sequence of ints"):
        zoo.mlp(widths)  # an int gave "'int' object is not iterable"


def test_lenet_pads_the_second_convolution_only_below_20_pixels():
    # 20x20: no padding, (20 / 2 - 4) // 2 = 3; 19x19 is padded: (9 + 4 - 4) // 2 = 4.
    at_20 = zoo.lenet(input_shape=(1, 20, 20))
    assert at_20.conv2.padding == (0, 0) and at_20.fc1.in_features == 16 * 3 * 3
    at_19 = zoo.lenet(input_shape=(1, 19, 19))
    assert at_19.conv2.padding == (2, 2) and at_19.fc1.in_features == 16 * 4 * 4


def test_check_finite_weights_checks_buffers_too():
    from unboxed.zoo._models import check_finite_weights

    norm = torch.nn.BatchNorm1d(3)
    check_finite_weights(norm, what="fresh")
    norm.running_var[1] = float("inf")
    with pytest.raises(FloatingPointError, match="bad: running_var holds NaN or infinite"):
        check_finite_weights(norm, what="bad")


def test_lenet_needs_4x4_images_and_uses_its_activation_throughout():
    with pytest.raises(ValueError, match="at least 4x4 pixels, got 3x3"):
        zoo.lenet(input_shape=(1, 3, 3))
    model = zoo.lenet(input_shape=(1, 4, 4), activation="tanh")
    assert model(torch.zeros(2, 1, 4, 4)).shape == (2, 10)
    acts = [m for name, m in model.named_children() if name.startswith("act")]
    assert len(acts) == 4 and all(isinstance(m, torch.nn.Tanh) for m in acts)


@pytest.mark.parametrize(
    ("activation", "reference"),
    [
        ("relu", torch.relu),
        ("sigmoid", torch.sigmoid),
        ("tanh", torch.tanh),
        ("elu", torch.nn.functional.elu),
        ("gelu", torch.nn.functional.gelu),
        ("silu", torch.nn.functional.silu),
        ("leaky_relu", torch.nn.functional.leaky_relu),
    ],
)
def test_each_activation_name_computes_its_own_function(activation, reference):
    # Checked against torch's functions, not against ACTIVATIONS itself: a swapped
    # entry in that table would pass a test that reads the table.
    model = zoo.mlp((3,), activation, n_features=2, n_classes=2)
    x = torch.linspace(-2.0, 2.0, 7)
    torch.testing.assert_close(model.act1(x), reference(x))
    torch.testing.assert_close(
        zoo.lenet(input_shape=(1, 4, 4), activation=activation).act4(x), reference(x)
    )


def test_check_finite_weights_checks_parameters_for_nan_and_inf():
    from unboxed.zoo._models import check_finite_weights

    model = zoo.mlp((3,), n_features=2, n_classes=2)
    check_finite_weights(model, what="fresh")
    for bad in (float("nan"), float("inf")):
        broken = zoo.mlp((3,), n_features=2, n_classes=2)
        with torch.no_grad():
            broken.fc2.bias[0] = bad
        with pytest.raises(FloatingPointError, match="diverged: fc2.bias holds NaN or infinite"):
            check_finite_weights(broken, what="diverged")


def test_lenet_sizes_each_side_of_a_non_square_image_on_its_own():
    # 28x12: the narrow side is under 20 pixels, so conv2 pads; the second block is
    # (14 + 4 - 4) // 2 = 7 rows by (6 + 4 - 4) // 2 = 3 columns.
    model = zoo.lenet(input_shape=(1, 28, 12))
    assert model.conv2.padding == (2, 2) and model.fc1.in_features == 16 * 7 * 3
    x = torch.zeros(2, 1, 28, 12)
    assert model[:6](x).shape == (2, 16, 7, 3)
    assert model(x).shape == (2, 10)
    assert zoo.lenet(input_shape=(1, 8, 24))(torch.zeros(2, 1, 8, 24)).shape == (2, 10)
    with pytest.raises(ValueError, match="at least 4x4 pixels, got 8x3"):
        zoo.lenet(input_shape=(1, 8, 3))


def test_lenet_takes_colour_images_and_any_number_of_classes():
    model = zoo.lenet(input_shape=(3, 8, 8), n_classes=3)
    assert model.conv1.in_channels == 3
    assert model(torch.zeros(2, 3, 8, 8)).shape == (2, 3)
    assert zoo.as_blackbox(model).n_classes == 3
    built = zoo.build("lenet", input_shape=(3, 8, 8), n_classes=4)
    assert built(torch.zeros(1, 3, 8, 8)).shape == (1, 4)


def test_mlp_accepts_a_numpy_array_of_widths():
    # zoo configs and benchmark grids hand widths over as arrays
    model = zoo.mlp(np.array([4, 2]), n_features=3, n_classes=2)
    assert [m.out_features for m in model if isinstance(m, torch.nn.Linear)] == [4, 2, 2]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: zoo.mlp(n_features=0), "n_features must be an int >= 1"),
        (lambda: zoo.lenet(input_shape=(1, 8, 8), n_classes=1), "n_classes must be an int >= 2"),
        (lambda: zoo.lenet(activation="swish"), "activation must be one of"),
        (lambda: zoo.lenet(input_shape=(1, 1, 8, 8)), r"input_shape \(C, H, W\)"),
        (
            lambda: zoo.build("lenet", input_shape=(1, 1, 8, 8), n_classes=2),
            "lenet needs image data",
        ),
    ],
)
def test_builders_refuse_bad_arguments_up_front(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_as_blackbox_reads_the_models_logits_and_refuses_other_modules():
    model = zoo.mlp((4,), n_features=3, n_classes=3, random_state=0)
    X = np.random.default_rng(0).normal(size=(5, 3))
    with torch.no_grad():
        expected = torch.softmax(model(torch.tensor(X, dtype=torch.float32)), 1).numpy()
    np.testing.assert_allclose(zoo.as_blackbox(model).predict_proba(X), expected, atol=1e-6)
    with pytest.raises(TypeError, match="as_blackbox takes a ZooModel, got Linear"):
        zoo.as_blackbox(torch.nn.Linear(3, 2))


def test_lenet_layers_are_the_documented_ones():
    model = zoo.lenet(input_shape=(1, 8, 8))
    kinds = {name: type(m).__name__ for name, m in model.named_children()}
    assert kinds == {
        "conv1": "Conv2d",
        "act1": "ReLU",
        "pool1": "MaxPool2d",
        "conv2": "Conv2d",
        "act2": "ReLU",
        "pool2": "MaxPool2d",
        "flatten": "Flatten",
        "fc1": "Linear",
        "act3": "ReLU",
        "fc2": "Linear",
        "act4": "ReLU",
        "fc3": "Linear",
    }


@pytest.mark.parametrize(
    "build",
    [
        lambda: zoo.mlp((4,), n_features=5, n_classes=2, random_state=4),
        lambda: zoo.lenet(input_shape=(1, 8, 8), random_state=4),
        lambda: zoo.vae(n_features=5, latent_dim=2, hidden=(4,), random_state=4),
    ],
)
def test_building_a_model_seeds_no_accelerators_generator(build, monkeypatch):
    seeded = spy_on_device_seeding(monkeypatch)
    build()
    assert seeded == []


@pytest.mark.parametrize("architecture", ["mlp", "lenet"])
def test_build_says_the_input_size_comes_from_input_shape(architecture):
    # Python said "got multiple values for keyword argument 'n_features'".
    with pytest.raises(TypeError, match="from input_shape; leave n_features out"):
        zoo.build(architecture, input_shape=(1, 8, 8), n_classes=10, n_features=64)
