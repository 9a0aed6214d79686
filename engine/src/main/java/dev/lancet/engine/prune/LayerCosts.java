package dev.lancet.engine.prune;

import dev.lancet.engine.linalg.Blas;
import dev.lancet.engine.linalg.Cholesky;
import dev.lancet.engine.linalg.Workspaces;
import dev.lancet.engine.nn.Linear;
import java.util.stream.IntStream;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * ΔL, in loss units and so comparable across layers, of removing structures of one layer's W̃ (R × C̃, the bias
 * column last), under the quadratic model ½ Δθᵀ F Δθ with F ≈ G ⊗ A (row-major vec(W̃)). For OBS (the remaining
 * weights corrected) removing a set Q costs ½ θ_Qᵀ ([F⁻¹]_QQ)⁻¹ θ_Q with the damped F; for OBD (removal only) the
 * diagonal of the undamped F prices it. Dead rows and columns cost 0.
 */
public final class LayerCosts {

    private LayerCosts() {
    }

    /**
     * Each weight of W̃ alone: OBS ½ W̃_ij² / ([G_d⁻¹]_ii [A_d⁻¹]_jj) (SparseGPT: G = I), OBD ½ W̃_ij² G_ii A_jj
     * (magnitude: ½ W̃_ij²). A new fp64 [R, C̃] array outside any workspace; the caller closes it.
     */
    public static INDArray elements(LayerCurvature c, Linear layer) {
        c.requireFits(layer);
        boolean obs = c.method().corrects();
        try (MemoryWorkspace ignored = Workspaces.open(Workspaces.PRUNE)) {
            INDArray w = AugmentedWeight.read(layer);
            INDArray costs = w.mul(w).muli(0.5)
                    .muliColumnVector(Nd4j.createFromArray(c.g().costScale(obs)).reshape(c.rows(), 1))
                    .muliRowVector(Nd4j.createFromArray(c.a().costScale(obs)));
            return costs.detach();
        }
    }

    /**
     * Each row of W̃ alone (an output with its bias): OBS ½ w̃_iᵀ A w̃_i / [G_d⁻¹]_ii, OBD ½ w̃_iᵀ A w̃_i G_ii
     * (magnitude ½‖w̃_i‖², not the reference's unsquared norm). A is undamped, as in the reference: a row's OBS
     * correction does not depend on A, so this is the exact quadratic increase under G_d ⊗ A. [R] values.
     */
    public static double[] rows(LayerCurvature c, Linear layer) {
        c.requireFits(layer);
        try (MemoryWorkspace ignored = Workspaces.open(Workspaces.PRUNE)) {
            INDArray w = AugmentedWeight.read(layer);
            return scaled(c.a().timesRight(w).mul(w).sum(1), c.g().costScale(c.method().corrects()));
        }
    }

    /**
     * Each column of W̃ alone (an input; the last is the bias): OBS ½ w̃_jᵀ G w̃_j / [A_d⁻¹]_jj, OBD
     * ½ w̃_jᵀ G w̃_j A_jj, G undamped (exact under G ⊗ A_d, symmetric to {@link #rows}). [C̃] values.
     */
    public static double[] columns(LayerCurvature c, Linear layer) {
        c.requireFits(layer);
        try (MemoryWorkspace ignored = Workspaces.open(Workspaces.PRUNE)) {
            INDArray w = AugmentedWeight.read(layer);
            return scaled(c.g().timesLeft(w).mul(w).sum(0), c.a().costScale(c.method().corrects()));
        }
    }

    /**
     * Each set of rows removed jointly (an attention head's rows, say): OBS ½ tr(([G_d⁻¹]_rr)⁻¹ W̃_r A W̃_rᵀ) over the
     * live rows of the set (a set of one is its {@link #rows} cost), OBD the sum of its rows' costs (OBD assumes
     * independent structures). One value per set.
     */
    public static double[] rowSets(LayerCurvature c, Linear layer, int[][] sets) {
        if (!c.method().corrects()) {
            return sums(rows(c, layer), sets);
        }
        c.requireFits(layer);
        try (MemoryWorkspace ignored = Workspaces.open(Workspaces.PRUNE)) {
            INDArray w = AugmentedWeight.read(layer);
            return jointCosts(w, c.a().timesRight(w), c.g(), sets, c.layer() + " rows");
        }
    }

    /**
     * Each set of columns removed jointly: OBS ½ tr(([A_d⁻¹]_cc)⁻¹ W̃_cᵀ G W̃_c) over its live columns, OBD the sum of
     * its columns' costs. One value per set.
     */
    public static double[] columnSets(LayerCurvature c, Linear layer, int[][] sets) {
        if (!c.method().corrects()) {
            return sums(columns(c, layer), sets);
        }
        c.requireFits(layer);
        try (MemoryWorkspace ignored = Workspaces.open(Workspaces.PRUNE)) {
            INDArray w = AugmentedWeight.read(layer);
            // the columns of W̃ are the rows of W̃ᵀ, and W̃ᵀ G = (G W̃)ᵀ
            return jointCosts(w.transpose().dup('c'), c.g().timesLeft(w).transpose().dup('c'), c.a(), sets,
                    c.layer() + " columns");
        }
    }

    /** Per set s of rows of v: ½ tr(([M_d⁻¹]_ss)⁻¹ u_s v_sᵀ), u = v times the other factor, dead rows left out. */
    private static double[] jointCosts(INDArray v, INDArray u, DampedFactor side, int[][] sets, String what) {
        double[] costs = new double[sets.length];
        for (int s = 0; s < sets.length; s++) {
            int[] live = IntStream.of(Indices.sortedDistinct(sets[s], side.dim(), what)).filter(i -> !side.dead(i))
                    .toArray();
            if (live.length == 0) {
                continue;
            }
            try (MemoryWorkspace ignored = Workspaces.open(Workspaces.PRUNE_PART)) {
                INDArray product = Blas.gemm(u.getRows(live), false, v.getRows(live), true);
                INDArray block = side.inverseBlock(live);
                Cholesky.factor(block, what + ": inverse-curvature block of a set of " + live.length);
                Cholesky.solve(block, product);
                double trace = 0;
                for (int p = 0; p < live.length; p++) {
                    trace += product.getDouble(p, p);
                }
                costs[s] = 0.5 * trace;
            }
        }
        return costs;
    }

    private static double[] scaled(INDArray quadraticForms, double[] scale) {
        double[] costs = quadraticForms.toDoubleVector();
        for (int i = 0; i < costs.length; i++) {
            costs[i] *= 0.5 * scale[i];
        }
        return costs;
    }

    private static double[] sums(double[] costs, int[][] sets) {
        double[] sums = new double[sets.length];
        for (int s = 0; s < sets.length; s++) {
            for (int i : Indices.sortedDistinct(sets[s], costs.length, "set")) {
                sums[s] += costs[i];
            }
        }
        return sums;
    }
}
