package dev.lancet.engine.nn;

import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;
import org.nd4j.linalg.api.ndarray.INDArray;

/** A residual decoder block: attention, then the MLP, each with its norm; where the norms sit is the subtype. */
public sealed interface DecoderBlock permits PreNormBlock, PostNormBlock, ShortcutBlock {

    record State(Norm.State attentionNorm, Attention.State attention, Norm.State feedForwardNorm,
                 FeedForward.State feedForward, INDArray output) {
    }

    Norm attentionNorm();

    Attention attention();

    Norm feedForwardNorm();

    FeedForward feedForward();

    State forward(INDArray x, int batch, int seq);

    INDArray backward(State s, INDArray dy, Backprop backprop, int batch, int seq);

    /** A block of the same kind with other parts (structural edits: other shapes or names). */
    DecoderBlock with(Norm attentionNorm, Attention attention, Norm feedForwardNorm, FeedForward feedForward);

    /** The same block with each linear layer replaced by {@code replace}'s result (norms shared). */
    default DecoderBlock withLinears(UnaryOperator<Linear> replace) {
        return with(attentionNorm(), attention().withLinears(replace), feedForwardNorm(),
                feedForward().withLinears(replace));
    }

    /** q, k, v, o, then the MLP's layers. */
    default List<Linear> linears() {
        List<Linear> all = new ArrayList<>(attention().linears());
        all.addAll(feedForward().linears());
        return all;
    }
}
