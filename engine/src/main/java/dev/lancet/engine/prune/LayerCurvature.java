package dev.lancet.engine.prune;

import dev.lancet.engine.curvature.KfacFactor;
import dev.lancet.engine.linalg.Workspaces;
import dev.lancet.engine.nn.Linear;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * One linear layer's curvature as a pruning method sees it, for one shot: F ≈ G ⊗ A over W̃ = [W | b] (R × C̃, C̃ =
 * inputs + 1 with a bias), G = E[ggᵀ] and A = E[ããᵀ] the means of the layer's {@link KfacFactor}.
 * <ul>
 *   <li>{@link PruneMethod#SURGEON}: G and A, and the inverses of the damped G_d, A_d (fp64 Cholesky);</li>
 *   <li>{@link PruneMethod#SPARSEGPT}: G = I, A and A_d⁻¹ (OBS with the input second moments only);</li>
 *   <li>{@link PruneMethod#K_OBD}: G and A, undamped, no inverses;</li>
 *   <li>{@link PruneMethod#MAGNITUDE}: G = A = I; needs no factor.</li>
 * </ul>
 * Dead rows and columns (zero curvature diagonal, or all-zero weights) are decoupled in the damped factors and cost
 * 0, so they go first (see {@link DampedFactor}); they never produce NaN or infinity.
 *
 * <p>Built from the layer's current weights (which rows and columns are already zero), so costs and corrections of
 * the same shot use the same curvature; owns up to four R×R and C̃×C̃ fp64 matrices: {@link #close} frees them.
 */
public final class LayerCurvature implements AutoCloseable {

    private final String layer;
    private final PruneMethod method;
    private final boolean bias;
    private final DampedFactor g;
    private final DampedFactor a;

    private LayerCurvature(String layer, PruneMethod method, boolean bias, DampedFactor g, DampedFactor a) {
        this.layer = layer;
        this.method = method;
        this.bias = bias;
        this.g = g;
        this.a = a;
    }

    /**
     * The curvature of {@code layer} for {@code method}, from its KFAC {@code factor} (ignored, and may be null, for
     * {@link PruneMethod#MAGNITUDE}) with relative {@code damping}. Throws a
     * {@link dev.lancet.engine.linalg.NotPositiveDefiniteException} naming the layer and factor when a damped
     * factor is not positive definite, an IllegalArgumentException when the factor does not fit the layer.
     */
    public static LayerCurvature of(PruneMethod method, KfacFactor factor, Linear layer, Damping damping) {
        boolean bias = layer.bias() != null;
        boolean[] zeroRows;
        boolean[] zeroColumns;
        try (MemoryWorkspace ignored = Workspaces.open(Workspaces.PRUNE)) {
            INDArray w = AugmentedWeight.read(layer);
            zeroRows = AugmentedWeight.zeroRows(w);
            zeroColumns = AugmentedWeight.zeroColumns(w);
        }
        if (method.usesA() && !(factor.hasBias() == bias && factor.dimG() == zeroRows.length
                && factor.dimA() == zeroColumns.length)) {
            throw new IllegalArgumentException("curvature of " + factor.layer() + " (G " + factor.dimG() + ", A "
                    + factor.dimA() + (factor.hasBias() ? " with bias" : "") + ") does not fit layer " + layer.name()
                    + " [" + layer.outFeatures() + ", " + layer.inFeatures() + (bias ? "] with bias" : "]"));
        }
        DampedFactor g = method.usesG()
                ? DampedFactor.of(Workspaces.outside(factor::g), zeroRows, damping.g(), method.corrects(),
                        describe(layer, "G", damping.g()))
                : DampedFactor.identity(zeroRows);
        try {
            DampedFactor a = method.usesA()
                    ? DampedFactor.of(Workspaces.outside(factor::a), zeroColumns, damping.a(), method.corrects(),
                            describe(layer, "A", damping.a()))
                    : DampedFactor.identity(zeroColumns);
            return new LayerCurvature(layer.name(), method, bias, g, a);
        } catch (RuntimeException e) {
            g.close();
            throw e;
        }
    }

    private static String describe(Linear layer, String factor, double damp) {
        return layer.name() + ": " + factor + " + " + damp + "·mean(diag " + factor + ")·I";
    }

    public String layer() {
        return layer;
    }

    public PruneMethod method() {
        return method;
    }

    /** R: the layer's outputs. */
    public int rows() {
        return g.dim();
    }

    /** C̃: the layer's inputs, plus one for the bias column (the last). */
    public int columns() {
        return a.dim();
    }

    public boolean hasBias() {
        return bias;
    }

    /** The weight's own input columns (C̃ without the bias column). */
    public int inputs() {
        return columns() - (bias ? 1 : 0);
    }

    /** Whether row i of W̃ is dead: zero G_ii, or all zero already. */
    public boolean deadRow(int i) {
        return g.dead(i);
    }

    /** Whether column j of W̃ is dead: zero A_jj, or all zero already. */
    public boolean deadColumn(int j) {
        return a.dead(j);
    }

    DampedFactor g() {
        return g;
    }

    DampedFactor a() {
        return a;
    }

    /** Checks that {@code layer} is the layer this curvature was built for (same name and shape). */
    void requireFits(Linear linear) {
        if (!linear.name().equals(layer) || linear.outFeatures() != rows() || linear.inFeatures() != inputs()
                || (linear.bias() != null) != bias) {
            throw new IllegalArgumentException("curvature of " + layer + " [" + rows() + ", " + inputs() + "] used for "
                    + linear.name() + " [" + linear.outFeatures() + ", " + linear.inFeatures() + "]");
        }
    }

    /** Frees the factors and inverses now. */
    @Override
    public void close() {
        g.close();
        a.close();
    }
}
