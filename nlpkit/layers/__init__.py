"""nlpkit's layer library: recurrent cells and sequence layers, encoders and pooling aggregators."""

from nlpkit.layers.attention import BahdanauAttention, LuongAttention
from nlpkit.layers.bag_of_words import BagOfEmbeddings, BagOfWords
from nlpkit.layers.conv import MultiWidthConv1D
from nlpkit.layers.coupled_lstm import CoupledLSTM, CoupledLSTMCell
from nlpkit.layers.crf import CRF, bioes_allowed_transitions, iob2_allowed_transitions
from nlpkit.layers.embedding import PretrainedEmbedding
from nlpkit.layers.fixed_batch_size import FixedBatchSize
from nlpkit.layers.gru import GRU, GRUCell
from nlpkit.layers.highway import Highway
from nlpkit.layers.hub_layer import HubLayer
from nlpkit.layers.lstm import LSTM, LSTMCell
from nlpkit.layers.no_forget_gate_lstm import NoForgetGateLSTM, NoForgetGateLSTMCell
from nlpkit.layers.peephole_lstm import PeepholeLSTM, PeepholeLSTMCell
from nlpkit.layers.pooling import ConcatPooling, LastPooling, MaxPooling, MeanPooling, SumPooling
from nlpkit.layers.recurrent import Recurrent
from nlpkit.layers.recurrent_cell import RecurrentCell
from nlpkit.layers.scalar_mix import ScalarMix
from nlpkit.layers.simple_rnn import SimpleRNN, SimpleRNNCell

# The sequence layer of each cell, by the name the recipes' --cell flags use.
RECURRENT_LAYERS = {
    "simple": SimpleRNN,
    "lstm": LSTM,
    "gru": GRU,
    "peephole": PeepholeLSTM,
    "coupled": CoupledLSTM,
    "no_forget_gate": NoForgetGateLSTM,
}
