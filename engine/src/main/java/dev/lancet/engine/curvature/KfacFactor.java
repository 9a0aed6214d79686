package dev.lancet.engine.curvature;

import dev.lancet.engine.model.LinearLayout;
import java.util.Arrays;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Running KFAC sums of one linear layer: Σ ããᵀ over its inputs (ã = [a; 1] when the layer has a bias) and
 * Σ ggᵀ over the gradients of the summed NLL with respect to its outputs, over {@code tokens} labelled
 * positions. Sums, not means, so that states merge by addition in any order; fp64 always.
 *
 * <p>Only the upper triangles are accumulated (SYRK: half a GEMM's work) and stored ({@link PackedUpper}: half
 * the memory); the full symmetric matrices are made when read. The sums are native memory (gigabytes for a
 * large model): whoever holds a factor {@link #close}s it when done, rather than waiting for a garbage
 * collection.
 *
 * <p>A forward-only factor has no G (its {@link Shape#dimG} is 0): the running second moment Σ xxᵀ of a signal, such
 * as a SliceGPT place of the residual stream, streamed, merged and snapshotted like the KFAC factors.
 */
public final class KfacFactor implements AutoCloseable {

    /** What a factor sums: its layer (or signal) name, whether A has a bias row, and the widths of A and G. */
    public record Shape(String layer, boolean bias, int dimA, int dimG) {

        public static Shape of(LinearLayout layer) {
            return new Shape(layer.name(), layer.bias(), layer.inputsWithBias(), layer.out());
        }

        /** Forward only: Σ xxᵀ of a {@code width}-wide signal, no G. */
        public static Shape secondMoment(String signal, int width) {
            return new Shape(signal, false, width, 0);
        }
    }

    private final String layer;
    private final boolean bias;
    private final PackedUpper sumA;
    private final PackedUpper sumG;
    private long tokens;

    private KfacFactor(String layer, boolean bias, PackedUpper sumA, PackedUpper sumG, long tokens) {
        this.layer = layer;
        this.bias = bias;
        this.sumA = sumA;
        this.sumG = sumG;
        this.tokens = tokens;
    }

    /** An empty factor for a layer: A over its inputs (plus one for the bias), G over its outputs. */
    public static KfacFactor empty(LinearLayout layer) {
        return empty(Shape.of(layer));
    }

    public static KfacFactor empty(Shape shape) {
        return new KfacFactor(shape.layer(), shape.bias(), PackedUpper.zeros(shape.dimA()),
                shape.dimG() == 0 ? null : PackedUpper.zeros(shape.dimG()), 0);
    }

    /** Whether this factor holds sums of {@code layer}: same name, bias column and shapes. */
    public boolean fits(LinearLayout layer) {
        return fits(Shape.of(layer));
    }

    public boolean fits(Shape shape) {
        return shape().equals(shape);
    }

    public Shape shape() {
        return new Shape(layer, bias, dimA(), dimG());
    }

    /** Adopts full symmetric running sums Σ ããᵀ, Σ ggᵀ (sumG null: forward only), e.g. received from another node. */
    public static KfacFactor fromSums(String layer, boolean bias, INDArray sumA, INDArray sumG, long tokens) {
        return new KfacFactor(layer, bias, PackedUpper.of(sumA), sumG == null ? null : PackedUpper.of(sumG), tokens);
    }

    /** Rebuilds running sums from stored means A, G over {@code tokens} positions. */
    public static KfacFactor fromMeans(String layer, boolean bias, INDArray a, INDArray g, long tokens) {
        KfacFactor factor = fromSums(layer, bias, a, g, tokens);
        factor.sumA.muli(tokens);
        factor.sumG.muli(tokens);
        return factor;
    }

    public String layer() {
        return layer;
    }

    public boolean hasBias() {
        return bias;
    }

    public long tokens() {
        return tokens;
    }

    /** Rows of A: the layer's inputs, plus one with a bias. */
    public int dimA() {
        return sumA.dim();
    }

    /** Rows of G: the layer's outputs; 0 for a forward-only factor. */
    public int dimG() {
        return sumG == null ? 0 : sumG.dim();
    }

    /**
     * Folds in one block: a [n, in] inputs and g [n, out] output gradients of n labelled positions. With
     * {@link Precision#FP32} each block's products are one fp32 SYRK, added to the fp64 sums; temporaries go
     * to the current workspace. A forward-only factor takes no g (null).
     */
    public void add(INDArray a, INDArray g, Precision precision) {
        boolean gFits = g == null ? sumG == null : sumG != null && a.rows() == g.rows() && g.columns() == dimG();
        if (!gFits || a.columns() + (bias ? 1 : 0) != dimA()) {
            throw new IllegalArgumentException(layer + ": block a" + Arrays.toString(a.shape()) + ", g"
                    + (g == null ? " none" : Arrays.toString(g.shape())) + " does not fit A " + dimA() + ", G "
                    + dimG());
        }
        INDArray input = a.castTo(precision.blockType());
        sumA.addGram(input);
        if (g != null) {
            sumG.addGram(g.castTo(precision.blockType()));
        }
        if (bias) {
            // ã = [a; 1]: the last column of Σ ããᵀ is Σ a, its corner the count (no copy of a with a 1 column)
            int in = (int) a.columns();
            INDArray columnSums = input.sum(0).castTo(DataType.DOUBLE);
            for (int i = 0; i < in; i++) {
                sumA.add(i, in, columnSums.getDouble(i));
            }
            sumA.add(in, in, a.rows());
        }
        tokens += a.rows();
    }

    /** Adds another partial state of the same layer (data seen elsewhere or earlier). */
    public void merge(KfacFactor other) {
        if (!other.layer.equals(layer) || other.dimA() != dimA() || other.dimG() != dimG()) {
            throw new IllegalArgumentException("cannot merge factors of " + other.layer + " into " + layer);
        }
        sumA.addi(other.sumA);
        if (sumG != null) {
            sumG.addi(other.sumG);
        }
        tokens += other.tokens;
    }

    /** Σ ããᵀ (fp64, a new symmetric array in the current workspace, if any). */
    public INDArray sumA() {
        return sumA.toSymmetric();
    }

    /** Σ ggᵀ (fp64, a new symmetric array in the current workspace, if any). */
    public INDArray sumG() {
        if (sumG == null) {
            throw new IllegalStateException(layer + " is a forward-only factor: it has no G");
        }
        return sumG.toSymmetric();
    }

    /** A = Σ ããᵀ / n (fp64, a new array in the current workspace, if any). */
    public INDArray a() {
        return sumA().divi(Math.max(tokens, 1));
    }

    /** G = Σ ggᵀ / n (fp64, a new array in the current workspace, if any). */
    public INDArray g() {
        return sumG().divi(Math.max(tokens, 1));
    }

    public KfacFactor copy() {
        return new KfacFactor(layer, bias, sumA.dup(), sumG == null ? null : sumG.dup(), tokens);
    }

    /** Frees the sums' native memory now; the factor must not be used afterwards. */
    @Override
    public void close() {
        sumA.close();
        if (sumG != null) {
            sumG.close();
        }
    }
}
