package dev.lancet.engine.slicegpt;

import dev.lancet.engine.linalg.Blas;
import dev.lancet.engine.linalg.SymmetricEigen;
import dev.lancet.engine.model.NormFusion;
import dev.lancet.engine.model.ResidualRotation;
import dev.lancet.engine.model.TokenBatch;
import dev.lancet.engine.model.Transformer;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntConsumer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * SliceGPT (Ashkboos et al., ICLR 2024) on a whole model, calibration signals held in memory block by block:
 * fuse the norms, then visit the residual stream in order (embeddings; each block's input, middle and output;
 * the head). At each place the signal of every calibration token, computed through everything already rotated and
 * sliced upstream, gives the uncentred second moment H = Σ xᵀx (fp64); its eigenvectors by descending eigenvalue
 * are the basis Q, of which the first k columns are kept.
 */
public final class SliceGpt {

    /**
     * @param width      k, the residual width kept everywhere except the last block's output
     * @param sliceHead  whether the last block's output (the head's input) is sliced too (reference default: no)
     */
    public record Settings(int width, boolean sliceHead) {
    }

    private SliceGpt() {
    }

    /**
     * Slices {@code model}, which it takes over (it must not be used afterwards), with the given calibration
     * batches; {@code blocksDone} hears after each block. Throws {@link IllegalArgumentException} before changing
     * anything when the model cannot be sliced to that width.
     */
    public static Transformer slice(Transformer model, List<TokenBatch> calibration, Settings settings,
                                    IntConsumer blocksDone) {
        SliceWidth.check(model.config(), model.layout(), settings.width());
        ResidualRotation rotation = new ResidualRotation(NormFusion.fuse(model));
        int k = settings.width();
        List<INDArray> embedded = new ArrayList<>();
        calibration.forEach(b -> embedded.add(rotation.embeddings(b)));
        INDArray basis = basis(embedded, k);
        rotation.rotateEmbeddings(basis);
        List<INDArray> inputs = rotated(embedded, basis);
        int last = rotation.numBlocks() - 1;
        for (int i = 0; i <= last; i++) {
            rotation.rotateInput(i, basis);
            int block = i;
            INDArray middle = basis(signals(calibration, inputs, (x, b) -> rotation.middle(block, x, b.batch(), b.seq())), k);
            rotation.rotateMiddle(i, middle);
            List<INDArray> outputs = signals(calibration, inputs, (x, b) -> rotation.output(block, x, b.batch(), b.seq()));
            basis = basis(outputs, i < last || settings.sliceHead() ? k : (int) outputs.get(0).size(1));
            rotation.rotateOutput(i, basis);
            inputs = rotated(outputs, basis);
            blocksDone.accept(i + 1);
        }
        rotation.rotateHead(basis);
        return rotation.result();
    }

    private interface Signal {
        INDArray of(INDArray input, TokenBatch batch);
    }

    private static List<INDArray> signals(List<TokenBatch> calibration, List<INDArray> inputs, Signal signal) {
        List<INDArray> out = new ArrayList<>(inputs.size());
        for (int j = 0; j < inputs.size(); j++) {
            out.add(signal.of(inputs.get(j), calibration.get(j)));
        }
        return out;
    }

    /** The signals in the basis, closing the originals. */
    private static List<INDArray> rotated(List<INDArray> signals, INDArray basis) {
        List<INDArray> out = new ArrayList<>(signals.size());
        for (INDArray s : signals) {
            out.add(Blas.gemm(s, false, basis.castTo(s.dataType()), false));
            s.close();
        }
        return out;
    }

    /** The leading k principal directions of the signals: [width, k], fp64, orthonormal columns. */
    static INDArray basis(List<INDArray> signals, int k) {
        return principalDirections(secondMoment(signals)).get(NDArrayIndex.all(), NDArrayIndex.interval(0, k))
                .dup('c');
    }

    /** Σ xᵀx over every row of every signal, fp64. */
    static INDArray secondMoment(List<INDArray> signals) {
        long width = signals.get(0).size(1);
        INDArray h = Nd4j.zeros(DataType.DOUBLE, width, width);
        for (INDArray s : signals) {
            INDArray x = s.castTo(DataType.DOUBLE);
            Blas.gemm(x, true, x, false, h, 1.0, 1.0);
        }
        return h;
    }

    /** Eigenvectors of the symmetric {@code h} as columns, by descending eigenvalue. */
    static INDArray principalDirections(INDArray h) {
        return SymmetricEigen.descending(h).vectors();
    }
}
