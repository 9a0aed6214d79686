package dev.lancet.engine.nn;

import java.util.List;
import java.util.function.UnaryOperator;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.ops.transforms.Transforms;

/** Llama's MLP: down(silu(gate x) ∘ up x). */
public record GatedMlp(Linear gate, Linear up, Linear down) implements FeedForward {

    @Override
    public State forward(INDArray x) {
        INDArray gatePre = gate.forward(x);
        INDArray upOut = up.forward(x);
        INDArray hidden = Transforms.sigmoid(gatePre, true).muli(gatePre).muli(upOut);
        return new State(x, upOut, gatePre, hidden, down.forward(hidden));
    }

    /** silu'(z) = σ(z)(1 + z(1 − σ(z))). */
    @Override
    public INDArray backward(State s, INDArray dy, Backprop backprop) {
        INDArray dHidden = down.backward(s.hidden(), dy, backprop);
        INDArray sigmoid = Transforms.sigmoid(s.gatePreActivation(), true);
        INDArray silu = sigmoid.mul(s.gatePreActivation());
        INDArray dUp = dHidden.mul(silu);
        INDArray siluGrad = sigmoid.rsub(1.0).muli(s.gatePreActivation()).addi(1.0).muli(sigmoid);
        INDArray dGate = dHidden.muli(s.preActivation()).muli(siluGrad);
        INDArray dx = gate.backward(s.input(), dGate, backprop);
        return dx.addi(up.backward(s.input(), dUp, backprop));
    }

    @Override
    public List<Linear> linears() {
        return List.of(gate, up, down);
    }

    @Override
    public FeedForward withLinears(UnaryOperator<Linear> replace) {
        return new GatedMlp(replace.apply(gate), replace.apply(up), replace.apply(down));
    }
}
