"""VFE: EfficientViM's zero BN-scale start of the residual branches, and the step-3 conv switch."""

import pytest
import torch

from ms2mnet.models.vfe import VFE


def zeroed_branches(vfe: VFE, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """The branches EfficientViM zero-initialises: step 1 (depthwise conv-BN) and step 4 (FFN, then SE)."""
    return {"local": vfe.local(x), "ffn+se": vfe.se(vfe.ffn(x))}


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_zero_init_makes_the_branches_start_as_the_identity(mode):
    torch.manual_seed(0)
    vfe = VFE(16, 8, mixer="mssm").train(mode == "train")
    x = torch.randn(2, 16, 8, 8)
    with torch.no_grad():
        for name, out in zeroed_branches(vfe, x).items():
            assert torch.equal(out, torch.zeros_like(out)), name
        # x + 0 at steps 1 and 4: what is left is the mixer and step 3.
        x2 = x + vfe.mixer(vfe.norm(x))
        torch.testing.assert_close(vfe(x), x2 + vfe.conv(x2))


def test_without_zero_init_the_branches_are_not_zero():
    x = torch.randn(2, 16, 8, 8)
    torch.manual_seed(0)
    off = VFE(16, 8, mixer=None, zero_init=False)
    torch.manual_seed(0)
    on = VFE(16, 8, mixer=None)  # the same weights but for the two BN scales
    with torch.no_grad():
        for name, out in zeroed_branches(off, x).items():
            assert out.abs().max() > 1e-3, name
        assert (off(x) - on(x)).abs().max() > 1e-3


def test_the_norm_ending_each_branch_learns_from_the_first_step():
    # Step 3 ends in a ReLU: with a zero BN scale its input would be exactly 0, where ReLU's gradient is
    # 0, and the branch would never train. So only steps 1 and 4 start at zero, and all three learn.
    torch.manual_seed(0)
    vfe = VFE(16, 8, mixer=None).train()
    vfe(torch.randn(2, 16, 8, 8)).pow(2).sum().backward()
    ends = [vfe.local[1], vfe.conv[1], vfe.ffn[-1]]
    assert all(norm.weight.grad.abs().sum() > 0 for norm in ends)
    assert vfe.conv[1] not in vfe.branch_norms() and vfe.conv[1].weight.eq(1).all()


def test_step_three_conv_is_full_or_depthwise():
    full, depthwise = VFE(16, 8, conv="full").conv[0], VFE(16, 8, conv="depthwise").conv[0]
    assert full.groups == 1 and full.weight.shape == (16, 16, 3, 3)
    assert depthwise.groups == 16 and depthwise.weight.shape == (16, 1, 3, 3)
    with pytest.raises(ValueError, match="valid: full, depthwise"):
        VFE(16, 8, conv="separable")


def test_mlp_ratio_sets_the_ffn_width():
    assert VFE(16, 8, mlp_ratio=4).ffn[0].out_channels == 64
