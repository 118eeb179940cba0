"""CRNN (Shi et al., 2016) with the exact parameter layout of the public PyTorch port.

Built as ``CRNN(in_channels=1, num_classes=37, hidden_size=256)`` its ``state_dict`` has the keys
and shapes of the public ``crnn.pth``: seven convolutions ``cnn.conv0..6`` (batch norm after
conv2, 4 and 6 only), then two bidirectional LSTMs ``rnn.0`` / ``rnn.1`` each followed by a linear
``embedding``. Three options, off by default, make small variants of the same network that train
quickly from scratch: ``width_mult`` scales every convolution's channels, ``batchnorm_everywhere``
adds batch norm after every convolution (``cnn.batchnorm0..6``) and ``aux_ctc`` adds an auxiliary
CTC head on the convolutional features (``aux_head``, a linear map per frame: deep supervision)
that only the training loss uses. Its gradient reaches the convolutions without passing through
the LSTMs, which shortens the CTC plateau of training from scratch (the loss stuck near the
all-blank solution) by hundreds of steps.

Input: float (N, in_channels, 32, W), normalised as ``(x - 0.5) / 0.5``.
Output: raw logits (T, N, num_classes), time-major like the public port and ``nn.CTCLoss``;
T = W // 4 + 1 (26 for W = 100). Class 0 is the CTC blank (see
:class:`~recognizers.codecs.CTCCodec`). With ``aux_ctc`` in training mode the forward returns
:class:`CRNNOutputs` (the logits and the auxiliary head's, like torchvision's Inception with
``aux_logits``), whose losses :meth:`CRNN.loss` adds; in eval mode the logits only.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from recognizers.losses import Reduction, ctc_loss
from recognizers.scaling import scaled_channels

__all__ = ["CRNN", "BidirectionalLSTM", "CRNNOutputs"]

# (out_channels, kernel, padding) of conv0..conv6 at width 1; max-pooling (kernel, stride, padding)
# after conv0, 1, 3 and 5.
_CONVS = ((64, 3, 1), (128, 3, 1), (256, 3, 1), (256, 3, 1), (512, 3, 1), (512, 3, 1), (512, 2, 0))
_PUBLIC_BATCHNORM = (2, 4, 6)
_HALVE = ((2, 2), (2, 2), (0, 0))
_HALVE_HEIGHT = ((2, 2), (2, 1), (0, 1))  # height / 2, width + 1
_POOLING_AFTER = {0: _HALVE, 1: _HALVE, 3: _HALVE_HEIGHT, 5: _HALVE_HEIGHT}


class BidirectionalLSTM(nn.Module):
    """A bidirectional LSTM and a linear map of its concatenated states.

    (T, N, input_size) -> (T, N, output_size).
    """

    def __init__(self, input_size: int, hidden_size: int, output_size: int) -> None:
        super().__init__()
        self.rnn = nn.LSTM(input_size, hidden_size, bidirectional=True)
        self.embedding = nn.Linear(2 * hidden_size, output_size)

    def forward(self, x: Tensor) -> Tensor:
        recurrent, _ = self.rnn(x)
        return self.embedding(recurrent)


class CRNNOutputs(NamedTuple):
    """Training-mode output of a CRNN with ``aux_ctc``: both (T, N, num_classes)."""

    logits: Tensor
    aux_logits: Tensor


class CRNN(nn.Module):
    """Convolutional recurrent network with a CTC head.

    Args:
        in_channels: 1 for the public grayscale model, 4 once the adapter adds RGB + mask.
        num_classes: alphabet size + 1 (the blank).
        hidden_size: LSTM hidden size of both recurrent layers.
        width_mult: scales the channels of every convolution (1.0 = public layout).
        batchnorm_everywhere: batch norm after every convolution instead of conv2/4/6 only.
        aux_ctc: an auxiliary CTC head on the convolutional features (``aux_head``), trained
            with the same weight as the main head; it adds its keys to ``classifier_keys`` and
            nothing to inference.
    """

    input_height = 32
    #: Parameters indexed by class (what an alphabet change remaps).
    classifier_keys: tuple[str, ...] = ("rnn.1.embedding.weight", "rnn.1.embedding.bias")

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 37,
        hidden_size: int = 256,
        *,
        width_mult: float = 1.0,
        batchnorm_everywhere: bool = False,
        aux_ctc: bool = False,
    ) -> None:
        super().__init__()
        self.cnn = nn.Sequential()
        channels = in_channels
        pooling_index = 0
        for i, (width, kernel, padding) in enumerate(_CONVS):
            out_channels = scaled_channels(width, width_mult)
            self.cnn.add_module(f"conv{i}", nn.Conv2d(channels, out_channels, kernel, 1, padding))
            if batchnorm_everywhere or i in _PUBLIC_BATCHNORM:
                self.cnn.add_module(f"batchnorm{i}", nn.BatchNorm2d(out_channels))
            self.cnn.add_module(f"relu{i}", nn.ReLU(inplace=True))
            if i in _POOLING_AFTER:
                self.cnn.add_module(f"pooling{pooling_index}", nn.MaxPool2d(*_POOLING_AFTER[i]))
                pooling_index += 1
            channels = out_channels
        self.rnn = nn.Sequential(
            BidirectionalLSTM(channels, hidden_size, hidden_size),
            BidirectionalLSTM(hidden_size, hidden_size, num_classes),
        )
        self.aux_head = nn.Linear(channels, num_classes) if aux_ctc else None
        if aux_ctc:
            self.classifier_keys = (*CRNN.classifier_keys, "aux_head.weight", "aux_head.bias")

    @staticmethod
    def output_length(width: int) -> int:
        """Number of CTC frames T for an input of this width."""
        return width // 2 // 2 + 1

    def features(self, images: Tensor) -> Tensor:
        """Convolutional features, one per frame.

        Args:
            images: float (N, in_channels, 32, W).

        Returns:
            (T, N, C), T = :meth:`output_length` (W), C the last convolution's channels.
        """
        if images.shape[2] != self.input_height:
            raise ValueError(f"CRNN expects images of height 32, got {tuple(images.shape)}")
        return self.cnn(images).squeeze(2).permute(2, 0, 1)

    def forward(
        self, images: Tensor, targets: Tensor | None = None, lengths: Tensor | None = None
    ) -> Tensor | CRNNOutputs:
        """Per-frame class scores.

        Args:
            images: float (N, in_channels, 32, W).
            targets, lengths: ignored (CTC needs no teacher forcing); accepted so that every
                recognizer trains through the same call ``model(images, targets, lengths)``.

        Returns:
            Logits (T, N, num_classes), T = :meth:`output_length` (W); with ``aux_ctc`` in
            training mode, :class:`CRNNOutputs` of those and the auxiliary head's logits.
        """
        features = self.features(images)
        logits = self.rnn(features)
        if self.training and self.aux_head is not None:
            return CRNNOutputs(logits, self.aux_head(features))
        return logits

    @staticmethod
    def loss(
        outputs: Tensor | CRNNOutputs,
        targets: Tensor,
        target_lengths: Tensor,
        reduction: Reduction = "mean",
    ) -> Tensor:
        """CTC loss of the forward's output (see :func:`~recognizers.losses.ctc_loss`); for
        :class:`CRNNOutputs`, the sum of the main and the auxiliary head's losses."""
        if isinstance(outputs, CRNNOutputs):
            main, aux = (ctc_loss(logits, targets, target_lengths, reduction) for logits in outputs)
            return main + aux
        return ctc_loss(outputs, targets, target_lengths, reduction)

    @torch.no_grad()
    def predict(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """Greedy per-frame choices of the main head for :meth:`CTCCodec.decode`, in either mode.

        Returns:
            ``ids`` int64 (N, T) and their softmax probabilities ``probs`` float (N, T).
        """
        probs, ids = self.rnn(self.features(images)).float().softmax(dim=2).max(dim=2)
        return ids.transpose(0, 1), probs.transpose(0, 1)
