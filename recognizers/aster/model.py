"""ASTER (Shi et al., TPAMI 2018) with the parameter layout of the public PyTorch port.

Pipeline for an image batch (N, C, 64, 256) normalised as ``(x - 0.5) / 0.5``, C = 3 (RGB) or
4 (RGB + text mask, the mask last):

1. the STN head sees a bilinear ``interpolate(..., align_corners=True)`` to 32 x 64 and predicts
   20 control points (no activation);
2. the TPS samples a 32 x 100 rectified image from the full-size input, all C channels alike;
3. the ResNet-45 encoder (+ 2-layer BiLSTM) gives 25 feature vectors of 512;
4. the attention decoder (97 classes) runs with teacher forcing for training, or greedy / beam
   search (width 5 in the public evaluation) for inference.

``state_dict`` keys (registration order): ``encoder.*``, ``decoder.decoder.*``, ``tps.*``,
``stn_head.*``. With ``with_lstm=False`` they are exactly those of
``aster_state_dict_layout.txt``; the public weights were trained with the LSTM (``--with_lstm``),
which adds the 16 ``encoder.rnn.*`` entries.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from recognizers.aster.decoder import AttentionRecognitionHead
from recognizers.aster.resnet import ResNetAster
from recognizers.aster.stn_head import STNHead
from recognizers.aster.tps import TPSSpatialTransformer
from recognizers.losses import sequence_cross_entropy

__all__ = ["ASTER"]


class ASTER(nn.Module):
    """Rectifying attention recognizer.

    Args:
        num_classes: C, alphabet + EOS, PADDING, UNKNOWN (97).
        in_channels: 3 (RGB) or 4 (RGB + mask); both the STN head and the encoder read them.
        eos_index, padding_index: class ids of EOS (94) and PADDING (95).
        with_lstm: the encoder's BiLSTM (the public weights have it).
        width_mult: scales the channels of the STN head, the ResNet and its LSTM (1.0 = public).
        s_dim, att_dim: decoder state and attention / embedding sizes (512).
        num_control_points, tps_margins: the TPS (20 points, margins (0.05, 0.05)).
        stn_input_size: what the STN head sees (32, 64); rectified_size: the TPS output (32, 100).
        max_length: most decoding steps at inference, EOS included (100).
        beam_width: default beam of :meth:`predict` (5; 1 = greedy).
    """

    #: Parameters indexed by class (what an alphabet change remaps).
    classifier_keys = (
        "decoder.decoder.fc.weight",
        "decoder.decoder.fc.bias",
        "decoder.decoder.tgt_embedding.weight",
    )
    loss = staticmethod(sequence_cross_entropy)

    def __init__(
        self,
        num_classes: int = 97,
        in_channels: int = 3,
        *,
        eos_index: int = 94,
        padding_index: int = 95,
        with_lstm: bool = True,
        width_mult: float = 1.0,
        s_dim: int = 512,
        att_dim: int = 512,
        num_control_points: int = 20,
        tps_margins: Sequence[float] = (0.05, 0.05),
        stn_input_size: Sequence[int] = (32, 64),
        rectified_size: Sequence[int] = (32, 100),
        max_length: int = 100,
        beam_width: int = 5,
    ) -> None:
        super().__init__()
        if max_length < 1 or beam_width < 1:
            raise ValueError(
                f"need max_length >= 1 and beam_width >= 1, got {max_length}, {beam_width}"
            )
        self.stn_input_size = (int(stn_input_size[0]), int(stn_input_size[1]))
        self.max_length = max_length
        self.beam_width = beam_width
        self.encoder = ResNetAster(in_channels, with_lstm=with_lstm, width_mult=width_mult)
        self.decoder = AttentionRecognitionHead(
            num_classes, self.encoder.out_channels, s_dim, att_dim, eos_index, padding_index
        )
        self.tps = TPSSpatialTransformer(rectified_size, num_control_points, tps_margins)
        self.stn_head = STNHead(in_channels, num_control_points, tps_margins, width_mult=width_mult)

    def rectify(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """STN + TPS.

        Args:
            images: float (N, C, H, W), any size (64 x 256 for the public weights).

        Returns:
            the rectified images (N, C, 32, 100) and the control points (N, 20, 2).
        """
        stn_input = F.interpolate(
            images, size=self.stn_input_size, mode="bilinear", align_corners=True
        )
        control_points = self.stn_head(stn_input)
        return self.tps(images, control_points), control_points

    def encode(self, images: Tensor) -> Tensor:
        """Rectify and encode: (N, C, H, W) -> features (N, 25, 512)."""
        rectified, _ = self.rectify(images)
        return self.encoder(rectified)

    def forward(
        self, images: Tensor, targets: Tensor | None = None, lengths: Tensor | None = None
    ) -> Tensor:
        """Teacher-forced logits for training.

        Args:
            images: float (N, C, H, W).
            targets, lengths: from :meth:`AttentionCodec.encode` (label ids + EOS, padded).

        Returns:
            logits (N, max(lengths), num_classes), for :func:`sequence_cross_entropy`.
        """
        if targets is None or lengths is None:
            raise ValueError(
                "ASTER.forward needs targets and lengths (teacher forcing); use predict()"
            )
        return self.decoder(self.encode(images), targets, lengths)

    @torch.no_grad()
    def predict(
        self, images: Tensor, *, beam_width: int | None = None, max_length: int | None = None
    ) -> tuple[Tensor, Tensor]:
        """Decode for :meth:`AttentionCodec.decode`.

        Args:
            images: float (N, C, H, W).
            beam_width: 1 = greedy; default the model's ``beam_width``.
            max_length: most steps, EOS included; default the model's ``max_length``.

        Returns:
            ids int64 (N, L) and per-step probabilities (N, L); PADDING (probability 1) after EOS.
        """
        beam_width = self.beam_width if beam_width is None else beam_width
        max_length = self.max_length if max_length is None else max_length
        features = self.encode(images)
        if beam_width == 1:
            return self.decoder.greedy_decode(features, max_length)
        return self.decoder.beam_search(features, beam_width, max_length)
