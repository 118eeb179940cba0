"""ASTER: TPS rectification (STN head), ResNet-45 + BiLSTM encoder, attention GRU decoder."""

from __future__ import annotations

from recognizers.aster.decoder import AttentionRecognitionHead
from recognizers.aster.model import ASTER
from recognizers.aster.resnet import ResNetAster
from recognizers.aster.stn_head import STNHead
from recognizers.aster.tps import TPSSpatialTransformer

__all__ = ["ASTER", "AttentionRecognitionHead", "ResNetAster", "STNHead", "TPSSpatialTransformer"]
