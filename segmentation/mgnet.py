"""The mutually guided dual-task network (MGNet, paper section III-A, Table I).

A shared encoder E maps the image to E_I; each decoder D_k (k = T pixel-level text, P polygon-level
region) reads E_I concatenated with the features of its guidance G_k, which an encoder of E's
structure extracts. Phase 1 runs with G_T = G_P = 0; phase 2 closes the loop with G'_T = O_P and
G'_P = O_T (the phase-1 outputs, not detached: gradients flow through the loop).

``skips=True`` (architecture ``mgnet-skip``) is a step beyond the paper: U-Net-style skip
connections concatenate E's stage features of the matching resolution into every upsampling block of
both decoders, so that the branches can draw strokes finer than E's 1/16 bottleneck. The two phases,
the zero-guidance shortcut and BatchNorm folding are unchanged.

Zero guidance is free: the guidance encoder's features of an all-zero map do not depend on the
image, so :class:`GuidanceEncoder` computes them once per forward on a single zero map and
broadcasts them over the batch, and in inference (eval mode, no autograd) caches them across calls.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Sequence
from itertools import chain

import torch
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
from segmentation.outputs import SegmentationOutput

# Table I(b): output channels of the 4 upsampling blocks of D_T and D_P.
MGNET_DECODER_CHANNELS: tuple[int, ...] = (256, 128, 64, 64)


class GuidanceEncoder(VGGEncoder):
    """An encoder of E's structure for a 1-channel guidance map G in [0, 1]: (N, 1, H, W) ->
    (N, C, H / 16, W / 16).

    :meth:`zero_features` returns the features of G = 0 without recomputing them per image:

    - Eval mode: every layer acts per sample, so the features of a zero map are one constant tensor
      per spatial size and set of weights. Without autograd they are cached, keyed by size, device,
      dtype, autocast state and the version of every parameter and buffer (an optimizer step, a
      ``load_state_dict`` or a ``.to()`` invalidates the entry). With autograd enabled they are
      computed once per call so that gradients reach the encoder, and while tracing (ONNX export)
      so that the graph computes them for any input size.
    - Train mode: BatchNorm normalises with batch statistics, and a batch of N identical zero maps
      has the same per-channel mean and (biased) variance as one zero map, so one map broadcast to
      N gives exactly the outputs and the gradients of N maps. Only the running-variance update
      differs: BatchNorm stores the unbiased variance, scaled by n / (n - 1) with n = H'W' instead
      of N H'W' elements (a relative difference below 1 / (H'W'), e.g. < 0.1% at a 32x32
      bottleneck).
    """

    max_cached_sizes = 4

    def __init__(self, width: float = 1.0, stages: Sequence[Sequence[int]] = VGG16_STAGES) -> None:
        super().__init__(in_channels=1, width=width, stages=stages)
        self._zero_cache: OrderedDict[Hashable, Tensor] = OrderedDict()

    def zero_features(self, batch_size: int, size: Sequence[int], like: Tensor) -> Tensor:
        """Features of an all-zero guidance of spatial ``size`` (H, W), broadcast to ``batch_size``.

        Returns a (batch_size, C, H / 16, W / 16) view (no copy per image); ``like`` gives the
        device and dtype."""
        height, width = size
        if self.training or torch.is_grad_enabled() or torch.jit.is_tracing():
            features = self(like.new_zeros(1, 1, height, width))
        else:
            key = (
                height,
                width,
                like.device,
                like.dtype,
                _autocast_state(like.device),
                self._version(),
            )
            features = self._zero_cache.get(key)
            if features is None:
                features = self(like.new_zeros(1, 1, height, width))
                self._zero_cache[key] = features
                while len(self._zero_cache) > self.max_cached_sizes:
                    self._zero_cache.popitem(last=False)
            self._zero_cache.move_to_end(key)
        return features.expand(batch_size, -1, -1, -1)

    def __getstate__(self) -> dict:
        # The cache is derived data keyed by tensor addresses: copies and pickles start empty.
        state = dict(super().__getstate__())
        state["_zero_cache"] = OrderedDict()
        return state

    def clear_zero_cache(self) -> None:
        """Forget the cached zero-guidance features (they are recomputed on the next call)."""
        self._zero_cache.clear()

    def _version(self) -> tuple[tuple[int, int], ...]:
        # Inference tensors (created under torch.inference_mode) carry no version counter.
        return tuple(
            (t.data_ptr(), 0 if t.is_inference() else t._version)
            for t in chain(self.parameters(), self.buffers())
        )


class GuidedDecoder(nn.Module):
    """A decoder D_k of Table I(b) with its 1-channel head.

    ``forward(features, guidance_features, skips=())``: E_I (N, C_e, h, w) and the guidance
    features (N, C_g, h, w) are concatenated, upsampled by 4 :class:`UpBlock` to (N, 64, 16h, 16w),
    and a 1x1 convolution gives the logits (N, 1, 16h, 16w) (apply a sigmoid for the probability
    map). With ``skip_channels`` (one entry per block, coarsest first; beyond the paper), block i
    also concatenates ``skips[i]`` (N, skip_channels[i], 2^(i+1) h, 2^(i+1) w) after upsampling.
    """

    def __init__(
        self,
        in_channels: int,
        width: float = 1.0,
        channels: Sequence[int] = MGNET_DECODER_CHANNELS,
        skip_channels: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        skip_channels = (0,) * len(channels) if skip_channels is None else tuple(skip_channels)
        if len(skip_channels) != len(channels):
            raise ValueError(
                f"skip_channels needs {len(channels)} entries (one per block), got {skip_channels}"
            )
        blocks = []
        for out_channels, skip in zip(channels, skip_channels, strict=True):
            blocks.append(UpBlock(in_channels, scale_channels(out_channels, width), skip))
            in_channels = blocks[-1].out_channels
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Conv2d(in_channels, 1, kernel_size=1)

    def forward(
        self, features: Tensor, guidance_features: Tensor, skips: Sequence[Tensor] = ()
    ) -> Tensor:
        features = torch.cat((features, guidance_features), dim=1)
        skips = tuple(skips) or (None,) * len(self.blocks)
        for block, skip in zip(self.blocks, skips, strict=True):
            features = block(features, skip)
        return self.head(features)


class MutuallyGuidedNet(nn.Module):
    """The mutually guided network of the paper (Table I at ``width=1``).

    ``forward(image, phases=2)``: image (N, in_channels, H, W), H and W multiples of 16, normalised
    as the training recipe does -> :class:`SegmentationOutput` with O_T, O_P (phase 1) and, when
    ``phases=2``, O'_T, O'_P (phase 2), each (N, 1, H, W). ``phases=1`` runs only the open loop.

    Modules: ``encoder`` (E), ``text_guidance`` / ``region_guidance`` (the guidance encoders of
    D_T and D_P), ``text_decoder`` (D_T) and ``region_decoder`` (D_P).

    Args:
        width: channel multiplier of every layer (1.0 = the paper's network; tests use ~1/16).
        in_channels: image channels (3 for RGB).
        skips: beyond the paper (architecture ``mgnet-skip``): every upsampling block of both
            decoders also receives E's stage output of its resolution (1/8, 1/4, 1/2, 1), U-Net
            style. ``False`` (the default) is the paper's network, without skip connections.
    """

    def __init__(self, width: float = 1.0, in_channels: int = 3, skips: bool = False) -> None:
        super().__init__()
        self.width = width
        self.in_channels = in_channels
        self.skips = skips
        self.encoder = VGGEncoder(in_channels, width)
        self.text_guidance = GuidanceEncoder(width)
        self.region_guidance = GuidanceEncoder(width)
        decoder_in = self.encoder.out_channels + self.text_guidance.out_channels
        # E's stage outputs from 1/8 up to full resolution, one per upsampling block.
        skip_channels = self.encoder.stage_channels[-2::-1] if skips else None
        self.text_decoder = GuidedDecoder(decoder_in, width, skip_channels=skip_channels)
        self.region_decoder = GuidedDecoder(decoder_in, width, skip_channels=skip_channels)
        init_weights_(self)

    @property
    def stride(self) -> int:
        """Input sides must be multiples of this (16)."""
        return self.encoder.stride

    def forward(self, image: Tensor, phases: int = 2) -> SegmentationOutput:
        if phases not in (1, 2):
            raise ValueError(f"phases must be 1 or 2, got {phases}")
        check_image_batch(image, self.in_channels, self.stride)
        batch_size, size = image.shape[0], image.shape[-2:]
        features, skips = self.encode(image)
        text_zero = self.text_guidance.zero_features(batch_size, size, like=image)
        region_zero = self.region_guidance.zero_features(batch_size, size, like=image)
        text_logits = self.text_decoder(features, text_zero, skips)
        region_logits = self.region_decoder(features, region_zero, skips)
        if phases == 1:
            return SegmentationOutput(text_logits, region_logits)
        text_guided_logits = self.text_decoder(
            features, self.text_guidance(torch.sigmoid(region_logits)), skips
        )
        region_guided_logits = self.region_decoder(
            features, self.region_guidance(torch.sigmoid(text_logits)), skips
        )
        return SegmentationOutput(
            text_logits, region_logits, text_guided_logits, region_guided_logits
        )

    def encode(self, image: Tensor) -> tuple[Tensor, list[Tensor]]:
        """E_I (N, C_e, H / 16, W / 16) and the decoders' skip features, coarsest first (E's
        stage outputs at 1/8, 1/4, 1/2 and 1 of the input; empty without ``skips``)."""
        if not self.skips:
            return self.encoder(image), []
        *stages, features = self.encoder.forward_stages(image)
        return features, stages[::-1]

    def fuse_bn_for_inference(self) -> MutuallyGuidedNet:
        """Fold every BatchNorm into its convolution (eval mode only; see
        :func:`segmentation.blocks.fuse_batchnorm_`). Returns ``self``."""
        fuse_batchnorm_(self)
        self.clear_zero_guidance_cache()
        return self

    def clear_zero_guidance_cache(self) -> None:
        """Forget the cached zero-guidance features of both guidance encoders."""
        self.text_guidance.clear_zero_cache()
        self.region_guidance.clear_zero_cache()


def _autocast_state(device: torch.device) -> tuple[bool, torch.dtype | None]:
    if not torch.amp.is_autocast_available(device.type) or not torch.is_autocast_enabled(
        device.type
    ):
        return False, None
    return True, torch.get_autocast_dtype(device.type)
