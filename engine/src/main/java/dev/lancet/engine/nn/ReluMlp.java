package dev.lancet.engine.nn;

import java.util.List;
import java.util.function.UnaryOperator;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.ops.transforms.Transforms;

/** OPT's MLP: fc2(relu(fc1 x)). */
public record ReluMlp(Linear fc1, Linear fc2) implements FeedForward {

    @Override
    public State forward(INDArray x) {
        INDArray hidden = Transforms.relu(fc1.forward(x), false);
        return new State(x, null, null, hidden, fc2.forward(hidden));
    }

    @Override
    public INDArray backward(State s, INDArray dy, Backprop backprop) {
        INDArray dHidden = fc2.backward(s.hidden(), dy, backprop);
        // relu'(z) = 1 where the output is positive; sign() of a non-negative array is that mask
        dHidden.muli(Transforms.sign(s.hidden(), true));
        return fc1.backward(s.input(), dHidden, backprop);
    }

    @Override
    public List<Linear> linears() {
        return List.of(fc1, fc2);
    }

    @Override
    public FeedForward withLinears(UnaryOperator<Linear> replace) {
        return new ReluMlp(replace.apply(fc1), replace.apply(fc2));
    }
}
