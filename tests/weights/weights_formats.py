"""Weights files in each declared model's real official format, from seeded networks, and the checks that
a model built from them holds every tensor its declaration says the file initialises.

Formats: torchvision state dicts (zip serialisation; the swsl ResNet-18 in the legacy pickle format its
2019 file has), ESANet's r34_NBt1D checkpoint ({'state_dict': {'encoder.*', 'fc.*'}, 'epoch'}), the BiT/ViT
`.npz` of R50+ViT-B/16, and a VMamba training checkpoint ({'model', 'config': yacs CfgNode, 'epoch', ...}).
The VGG-16-BN files hold torchvision's `features.*` only: the 120M-parameter classifier, which no loader
reads, is left out to keep the files small.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torchvision
from yacs.config import CfgNode

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "baselines"))
from test_ftransunet import fake_npz  # noqa: E402
from test_rs3mamba import vmamba_checkpoint  # noqa: E402

from baselines.esanet import ResNetNBt1D  # noqa: E402
from baselines.ftransunet import FTransUNet  # noqa: E402
from baselines.rs3mamba import VSSMEncoder  # noqa: E402

CONV_INDICES = (0, 3, 7, 10, 14, 17, 20, 24, 27, 30, 34, 37, 40)   # features.N of VGG-16-BN's 13 convolutions


def _stats(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Running statistics away from their fresh 0/1, so a BN left untouched cannot pass for a loaded one."""
    for name, value in state.items():
        if name.endswith(("running_mean", "running_var")):
            value.uniform_(0.5, 1.5)
    return state


def torchvision_file(path: Path, arch: str, seed: int, legacy: bool = False) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    state = _stats(getattr(torchvision.models, arch)().state_dict())
    torch.save(state, path, _use_new_zipfile_serialization=not legacy)
    return state


def vgg16_bn_file(path: Path, seed: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    features = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["D"], batch_norm=True)
    state = _stats({f"features.{k}": v for k, v in features.state_dict().items()})
    torch.save(state, path)
    return state


def esanet_file(path: Path, seed: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    encoder = _stats(ResNetNBt1D(in_chans=3).state_dict())
    torch.save({"epoch": 90, "state_dict": {**{f"encoder.{k}": v for k, v in encoder.items()},
                                            "fc.weight": torch.randn(1000, 512), "fc.bias": torch.randn(1000)}}, path)
    return encoder


def vmamba_file(path: Path) -> dict[str, torch.Tensor]:
    config = CfgNode()
    config.MODEL = CfgNode()
    config.MODEL.TYPE, config.MODEL.NAME, config.MODEL.DROP_PATH_RATE = "vssm", "vssm_tiny", 0.2
    checkpoint = {**vmamba_checkpoint(VSSMEncoder()), "config": config, "epoch": 292, "max_accuracy": 82.5}
    torch.save(checkpoint, path)
    return checkpoint["model"]


# --- what a built model must hold -------------------------------------------------------------------

def _stem(kernel: torch.Tensor, rule: str) -> torch.Tensor:
    return kernel.sum(dim=1, keepdim=True) if rule == "sum" else kernel.mean(dim=1, keepdim=True)


def assert_trunk(state: dict[str, torch.Tensor], prefix: str, file: dict[str, torch.Tensor], rule: str,
                 file_prefix: str = "") -> int:
    """Every tensor of the model's `prefix` trunk equals the file's (a 1-channel stem by `rule`)."""
    names = [k for k in state if k.startswith(prefix)]
    assert names, prefix
    for name in names:
        expected = file[file_prefix + name[len(prefix):]]
        if expected.shape != state[name].shape:
            expected = _stem(expected, rule)
            assert torch.allclose(state[name], expected), name
        else:
            assert torch.equal(state[name], expected), name
    return len(names)


def assert_vgg(state: dict[str, torch.Tensor], prefix: str, file: dict[str, torch.Tensor], bn_index: int,
               first: str) -> None:
    """A `vgg16_encoder`'s 13 conv/BN pairs equal the file's in order; `first`: load | mean | random."""
    for i, index in enumerate(CONV_INDICES):
        block, layer = divmod_layer(i)
        conv, bn = f"{prefix}{block}.{layer}.0.", f"{prefix}{block}.{layer}.{bn_index}."
        weight = file[f"features.{index}.weight"]
        if i == 0 and first == "mean":
            weight = weight.mean(dim=1, keepdim=True)
        if not (i == 0 and first == "random"):
            assert torch.allclose(state[conv + "weight"], weight), conv
            assert torch.equal(state[conv + "bias"], file[f"features.{index}.bias"]), conv
        for key in ("weight", "bias", "running_mean", "running_var"):
            assert torch.equal(state[bn + key], file[f"features.{index + 1}.{key}"]), bn + key


def divmod_layer(i: int) -> tuple[int, int]:
    for block, depth in enumerate((2, 2, 3, 3, 3)):
        if i < depth:
            return block, i
        i -= depth
    raise IndexError(i)


def oihw(kernel: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy())


# model -> (write the files into a folder -> reference, check a built model's state dict against it)
Writer = Callable[[Path], dict]
Checker = Callable[[dict[str, torch.Tensor], dict], None]


def _resnet50(folder: Path) -> dict:
    return {"r50": torchvision_file(folder / "resnet50-0676ba61.pth", "resnet50", seed=11)}


def _check_ms2mnet(state: dict, ref: dict) -> None:
    assert_trunk(state, "image_trunk.", ref["r50"], "mean")
    assert_trunk(state, "dsm_trunk.", ref["r50"], "mean")


def _vgg(folder: Path) -> dict:
    return {"vgg": vgg16_bn_file(folder / "vgg16_bn-6c64b313.pth", seed=12)}


def _check_fusenet(state: dict, ref: dict) -> None:
    assert_vgg(state, "image_encoder.", ref["vgg"], 1, "load")
    assert_vgg(state, "dsm_encoder.", ref["vgg"], 1, "mean")


def _check_vfusenet(state: dict, ref: dict) -> None:
    _check_fusenet(state, ref)
    assert_vgg(state, "virtual_encoder.", ref["vgg"], 1, "random")


def _check_cmfnet(state: dict, ref: dict) -> None:
    assert_vgg(state, "image_encoder.", ref["vgg"], 2, "load")    # conv -> ReLU -> BN
    assert_vgg(state, "dsm_encoder.", ref["vgg"], 2, "mean")


def _resnet34(folder: Path) -> dict:
    return {"r34": torchvision_file(folder / "resnet34-b627a593.pth", "resnet34", seed=13)}


def _check_cmgfnet(state: dict, ref: dict) -> None:
    assert_trunk(state, "encoder_rgb.", ref["r34"], "mean")
    assert_trunk(state, "encoder_dsm.", ref["r34"], "mean")


def _esanet(folder: Path) -> dict:
    return {"enc": esanet_file(folder / "r34_NBt1D.pth", seed=14)}


def _check_esanet(state: dict, ref: dict) -> None:
    assert_trunk(state, "encoder_rgb.", ref["enc"], "sum")
    assert_trunk(state, "encoder_depth.", ref["enc"], "sum")


def _swsl(folder: Path) -> dict:
    return {"r18": torchvision_file(folder / "semi_weakly_supervised_resnet18-118f1556.pth", "resnet18", seed=15,
                                    legacy=True)}


def _check_unetformer(state: dict, ref: dict) -> None:
    assert_trunk(state, "backbone.", ref["r18"], "")


def _rs3mamba(folder: Path) -> dict:
    return {**_swsl(folder), "vmamba": vmamba_file(folder / "vmamba_tiny_e292.pth")}


def _check_rs3mamba(state: dict, ref: dict) -> None:
    assert_trunk(state, "backbone.", ref["r18"], "")
    names = [k for k in state if k.startswith(("vssm_encoder.layers.", "vssm_encoder.downsamples."))]
    for name in names:   # all stages and downsamplings; VMamba v0 keeps the downsampling inside its layer
        key = re.sub(r"^downsamples\.(\d+)\.", r"layers.\1.downsample.", name[len("vssm_encoder."):])
        assert torch.equal(state[name], ref["vmamba"][key]), name
    assert len(names) > 100


def _ftransunet(folder: Path) -> dict:
    torch.manual_seed(16)
    return {"npz": fake_npz(FTransUNet(6), folder / "R50+ViT-B_16.npz", grid=14)}


def _check_ftransunet(state: dict, ref: dict) -> None:
    w = ref["npz"]
    for trunk in ("trunks.image.", "trunks.dsm."):
        assert torch.equal(state[trunk + "body.block3.unit9.conv3.weight"], oihw(w["block3/unit9/conv3/kernel"]))
        assert torch.equal(state[trunk + "root.gn.weight"], torch.from_numpy(w["gn_root/scale"]))
    assert torch.equal(state["trunks.image.root.conv.weight"], oihw(w["conv_root/kernel"]))
    assert torch.allclose(state["trunks.dsm.root.conv.weight"], oihw(w["conv_root/kernel"].mean(2, keepdims=True)))
    for stream in ("image", "dsm"):
        assert torch.equal(state[f"embeddings.patch_{stream}.weight"], oihw(w["embedding/kernel"]))
        for i in range(12):
            kernel = w[f"Transformer/encoderblock_{i}/MlpBlock_3/Dense_1/kernel"]
            assert torch.equal(state[f"encoder.layers.{i}.{stream}.ffn.3.weight"], torch.from_numpy(kernel.T.copy()))


FORMATS: dict[str, tuple[Writer, Checker]] = {
    "ms2mnet": (_resnet50, _check_ms2mnet),
    "fusenet": (_vgg, _check_fusenet),
    "vfusenet": (_vgg, _check_vfusenet),
    "cmfnet": (_vgg, _check_cmfnet),
    "cmgfnet": (_resnet34, _check_cmgfnet),
    "esanet": (_esanet, _check_esanet),
    "unetformer": (_swsl, _check_unetformer),
    "ftransunet": (_ftransunet, _check_ftransunet),
    "rs3mamba": (_rs3mamba, _check_rs3mamba),
}
