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

    /** The same MLP with the layers reading its input (gate and up, or fc1) replaced by {@code f} of them. */
    FeedForward mapInputs(UnaryOperator<Linear> f);

    /** The same MLP with its output layer (down or fc2) replaced by {@code f} of it. */
    FeedForward mapOutput(UnaryOperator<Linear> f);

    /** The linear layers, in execution order. */
    List<Linear> linears();

    /** The same MLP with each linear layer replaced by {@code replace}'s result. */
    default FeedForward withLinears(UnaryOperator<Linear> replace) {
        return mapInputs(replace).mapOutput(replace);
    }
}
