"""Every registered model component follows one construction pattern: a typed ``__init__``
that takes no config, and ``from_config(cls, cfg, ...)`` that reads the config."""
import inspect

import pytest

from ov_avss.modeling import META_ARCH_REGISTRY
from ov_avss.modeling.audio import AUDIO_ENCODER_REGISTRY
from ov_avss.modeling.backbone import BACKBONE_REGISTRY
from ov_avss.modeling.pixel_decoder import PIXEL_DECODER_REGISTRY
from ov_avss.modeling.transformer_decoder import TRANSFORMER_DECODER_REGISTRY

REGISTRIES = (
    META_ARCH_REGISTRY, BACKBONE_REGISTRY, AUDIO_ENCODER_REGISTRY, PIXEL_DECODER_REGISTRY,
    TRANSFORMER_DECODER_REGISTRY,
)
ENTRIES = [(name, obj) for registry in REGISTRIES for name, obj in registry]


def test_the_released_config_names_are_registered():
    names = {name for name, _ in ENTRIES}
    assert {
        "OV_AVSS", "AVISM", "build_resnet_backbone", "D2SwinTransformer", "VGGish",
        "MSDeformAttnPixelDecoderAV", "MSDeformAttnPixelDecoderAVBi",
        "AudioVideoMaskedTransformerDecoder", "AudioVideoMultiScaleMaskedTransformerDecoder",
    } <= names


@pytest.mark.parametrize("name, component", ENTRIES, ids=[name for name, _ in ENTRIES])
def test_typed_init_and_from_config(name, component):
    assert inspect.isclass(component), f"{name} is registered as a {type(component).__name__}, not a class"
    assert isinstance(inspect.getattr_static(component, "from_config"), classmethod), name
    init_parameters = inspect.signature(component.__init__).parameters
    assert "cfg" not in init_parameters, f"{name}.__init__ takes the config"
    assert list(inspect.signature(component.from_config).parameters)[0] == "cfg", name
