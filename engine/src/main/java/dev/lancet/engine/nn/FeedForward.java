package dev.lancet.engine.nn;

import java.util.List;
import java.util.function.UnaryOperator;
import org.nd4j.linalg.api.ndarray.INDArray;

/** The position-wise MLP of a decoder block. */
public sealed interface FeedForward permits ReluMlp, GatedMlp {

    /** Saved for backward: the input, the pre-activation(s) and the activated hidden layer. */
    record State(INDArray input, INDArray preActivation, INDArray gatePreActivation, INDArray hidden,
                 INDArray output) {
    }

    State forward(INDArray x);

    INDArray backward(State state, INDArray dy, Backprop backprop);

    /** The linear layers, in execution order. */
    List<Linear> linears();

    /** The same MLP with each linear layer replaced by {@code replace}'s result. */
    FeedForward withLinears(UnaryOperator<Linear> replace);
}
