package dev.lancet.engine.llmpruner;

import dev.lancet.engine.model.TokenBatch;
import dev.lancet.engine.model.Transformer;
import dev.lancet.engine.nn.Backprop;
import dev.lancet.engine.text.CalibrationSource;
import java.util.HashMap;
import java.util.Map;
import java.util.function.IntConsumer;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * What LLM-Pruner's importance reads from the calibration windows, per parameter tensor of the model (by tensor
 * name, {@code <layer>.weight} / {@code <layer>.bias}: the decoder's linear layers, norms, embeddings and head): g,
 * the gradient of the mean next-token loss over all windows, and, if asked, the Fisher diagonal F = (1/N) Σₙ gₙ²
 * with gₙ the gradient of window n's own mean loss (the reference's {@code acc_grad}). Windows all have the same
 * length, so g = (1/N) Σₙ gₙ and both come from one backward per window; without F, windows go through backward in
 * batches.
 */
public final class TaylorGradients implements AutoCloseable {

    private final Map<String, INDArray> gradient;
    private final Map<String, INDArray> fisher;

    private TaylorGradients(Map<String, INDArray> gradient, Map<String, INDArray> fisher) {
        this.gradient = gradient;
        this.fisher = fisher;
    }

    /**
     * @param batch    windows per backward pass when F is not needed
     * @param progress told the number of windows done after each pass
     */
    public static TaylorGradients of(Transformer model, CalibrationSource source, boolean withFisher, int batch,
                                     IntConsumer progress) {
        int perPass = withFisher ? 1 : batch;
        Map<String, INDArray> sum = new HashMap<>();
        Map<String, INDArray> squares = new HashMap<>();
        long tokens = 0;
        int done = 0;
        for (int pass = 0; pass < source.batches(perPass); pass++) {
            TokenBatch windows = source.batch(pass, perPass);
            Backprop backprop = new Backprop(true, null, null);
            model.lossAndBackward(windows, backprop);
            tokens += windows.labelledTokens();
            for (Map.Entry<String, INDArray> e : backprop.gradients().entrySet()) {
                INDArray summed = e.getValue();
                if (withFisher) {
                    INDArray own = summed.div(windows.labelledTokens());
                    accumulate(squares, e.getKey(), own.muli(own));
                }
                accumulate(sum, e.getKey(), summed);
            }
            done += windows.batch();
            progress.accept(done);
        }
        double n = source.windows();
        double total = tokens;
        sum.values().forEach(g -> g.divi(total));
        squares.values().forEach(f -> f.divi(n));
        return new TaylorGradients(sum, squares);
    }

    /** Adds {@code value} into {@code into}'s entry, taking it over as the entry when there is none. */
    private static void accumulate(Map<String, INDArray> into, String key, INDArray value) {
        INDArray current = into.putIfAbsent(key, value);
        if (current != null) {
            current.addi(value);
            value.close();
        }
    }

    /** g of a parameter tensor. */
    public INDArray gradient(String tensor) {
        return require(gradient, tensor, "gradient");
    }

    /** F of a tensor; only when asked for. */
    public INDArray fisher(String tensor) {
        return require(fisher, tensor, "Fisher diagonal");
    }

    private static INDArray require(Map<String, INDArray> map, String tensor, String what) {
        INDArray a = map.get(tensor);
        if (a == null) {
            throw new IllegalArgumentException("no " + what + " for '" + tensor + "'");
        }
        return a;
    }

    @Override
    public void close() {
        gradient.values().forEach(INDArray::close);
        fisher.values().forEach(INDArray::close);
    }
}
