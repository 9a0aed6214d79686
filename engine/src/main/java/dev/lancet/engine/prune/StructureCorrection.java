package dev.lancet.engine.prune;

import dev.lancet.engine.linalg.Cholesky;
import dev.lancet.engine.linalg.Workspaces;
import dev.lancet.engine.nn.Linear;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Removes a set of whole rows or columns of one layer's W̃ jointly, in place on the layer's weight and bias: the
 * correlated OBS correction of the remaining weights (methods that correct), then the removed ones set to exactly
 * zero, dense shapes kept. Rows and columns of one shot are applied one after the other (rows, then columns of the
 * corrected weights: the reference's --addupdate; removed rows stay zero, since their entries in the removed
 * columns already are). Groups physically removed afterwards ({@code StructuralEdit}) are corrected here first.
 */
public final class StructureCorrection {

    private StructureCorrection() {
    }

    /**
     * Removes the rows {@code rows} (outputs, with their bias entries): ΔW̃ = −G_d⁻¹[:, r] ([G_d⁻¹]_rr)⁻¹ W̃_r, the
     * OBS update F⁻¹E_Q([F⁻¹]_QQ)⁻¹θ_Q with F = G_d ⊗ A, in which A cancels; with G = I it only zeroes.
     */
    public static void rows(LayerCurvature c, Linear layer, int[] rows) {
        c.requireFits(layer);
        int[] r = Indices.sortedDistinct(rows, c.rows(), c.layer() + " row");
        try (MemoryWorkspace ignored = Workspaces.open(Workspaces.PRUNE)) {
            INDArray w = AugmentedWeight.read(layer);
            if (c.method().corrects() && r.length > 0) {
                INDArray x = w.getRows(r);
                solveWithBlock(c.g(), r, x, c.layer() + ": [G_d⁻¹] of " + r.length + " rows");
                c.g().addInverseColumnsTimes(w, r, x, -1);
            }
            for (int i : r) {
                w.getRow(i).assign(0);
            }
            AugmentedWeight.write(w, layer);
        }
    }

    /**
     * Removes the columns {@code columns} (inputs; C̃ − 1 is the bias): ΔW̃ = −W̃_c ([A_d⁻¹]_cc)⁻¹ A_d⁻¹[c, :], the
     * OBS update with F = G ⊗ A_d, in which G cancels.
     */
    public static void columns(LayerCurvature c, Linear layer, int[] columns) {
        c.requireFits(layer);
        int[] cols = Indices.sortedDistinct(columns, c.columns(), c.layer() + " column");
        try (MemoryWorkspace ignored = Workspaces.open(Workspaces.PRUNE)) {
            INDArray w = AugmentedWeight.read(layer);
            if (c.method().corrects() && cols.length > 0) {
                // x = ([A_d⁻¹]_cc)⁻¹ W̃_cᵀ, so that ΔW̃ = −xᵀ A_d⁻¹[c, :]
                INDArray x = w.getColumns(cols).transpose().dup('c');
                solveWithBlock(c.a(), cols, x, c.layer() + ": [A_d⁻¹] of " + cols.length + " columns");
                c.a().addTransposeTimesInverseRows(w, x, cols, -1);
            }
            for (int j : cols) {
                w.get(NDArrayIndex.all(), NDArrayIndex.point(j)).assign(0);
            }
            AugmentedWeight.write(w, layer);
        }
    }

    /** x := ([M_d⁻¹]_idx,idx)⁻¹ x through the block's Cholesky factor. */
    private static void solveWithBlock(DampedFactor side, int[] idx, INDArray x, String what) {
        INDArray block = side.inverseBlock(idx);
        Cholesky.factor(block, what);
        Cholesky.solve(block, x);
    }
}
