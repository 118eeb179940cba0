"""U-Net baseline (Ronneberger et al. 2015) on MGNet's encoder: the single-task comparison network.

The encoder is E itself (VGG-16-BN, Table I(a)); the decoder mirrors D_T (Table I(b): 4 upsampling
blocks of 256, 128, 64, 64 channels) and adds U-Net's skip connections from the encoder stage of
the same resolution. It has the pixel-level branch only: its :class:`SegmentationOutput` carries
``text_logits`` (O_T) and ``None`` elsewhere, so the semi-supervised loss reduces to soft IoU on
samples with a pixel-level mask plus, if enabled, the CRF term on samples without one; the
polygon-level terms and the subset loss have nothing to act on and drop out.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from segmentation.blocks import (
    VGG16_STAGES,
    UpBlock,
    VGGEncoder,
    check_image_batch,
    fuse_batchnorm_,
    init_weights_,
    scale_channels,
)
from segmentation.mgnet import MGNET_DECODER_CHANNELS
from segmentation.outputs import SegmentationOutput


class UNet(nn.Module):
    """U-Net with a VGG-16-BN encoder and a 1-channel sigmoid head.

    ``forward(image)``: (N, in_channels, H, W), H and W multiples of 16 ->
    :class:`SegmentationOutput` with ``text_logits`` (N, 1, H, W) only. ``phases`` is accepted
    for call compatibility with :class:`~segmentation.mgnet.MutuallyGuidedNet` and ignored.

    Args:
        width: channel multiplier of every layer (1.0: the encoder of the paper's network).
        in_channels: image channels (3 for RGB).
        decoder_channels: output channels of the 4 upsampling blocks, deepest first.
    """

    def __init__(
        self,
        width: float = 1.0,
        in_channels: int = 3,
        decoder_channels: Sequence[int] = MGNET_DECODER_CHANNELS,
    ) -> None:
        super().__init__()
        self.width = width
        self.in_channels = in_channels
        if len(decoder_channels) != len(VGG16_STAGES) - 1:
            raise ValueError(
                f"decoder_channels needs {len(VGG16_STAGES) - 1} entries, got {decoder_channels}"
            )
        self.encoder = VGGEncoder(in_channels, width, VGG16_STAGES)
        skips = self.encoder.stage_channels[-2::-1]  # stage outputs from 1/8 up to full resolution
        blocks = []
        channels = self.encoder.out_channels
        for skip_channels, out_channels in zip(skips, decoder_channels, strict=True):
            blocks.append(UpBlock(channels, scale_channels(out_channels, width), skip_channels))
            channels = blocks[-1].out_channels
        self.decoder = nn.ModuleList(blocks)
        self.head = nn.Conv2d(channels, 1, kernel_size=1)
        init_weights_(self)

    @property
    def stride(self) -> int:
        """Input sides must be multiples of this (16)."""
        return self.encoder.stride

    def forward(self, image: Tensor, phases: int = 2) -> SegmentationOutput:
        check_image_batch(image, self.in_channels, self.stride)
        *skips, features = self.encoder.forward_stages(image)
        for block, skip in zip(self.decoder, reversed(skips), strict=True):
            features = block(features, skip)
        return SegmentationOutput(self.head(features))

    def fuse_bn_for_inference(self) -> UNet:
        """Fold every BatchNorm into its convolution (eval mode only). Returns ``self``."""
        fuse_batchnorm_(self)
        return self
