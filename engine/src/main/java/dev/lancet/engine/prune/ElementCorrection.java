package dev.lancet.engine.prune;

import dev.lancet.engine.linalg.Cholesky;
import dev.lancet.engine.linalg.Workspaces;
import dev.lancet.engine.nn.Linear;
import java.nio.DoubleBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Removes individual weights of one layer (unstructured or 2:4), in place on its weight and bias: OBS corrections
 * in chunks of whole rows, then every removed weight set to exactly zero.
 *
 * <p>A chunk Q is solved jointly: x = ([F⁻¹]_QQ)⁻¹ w_Q with [F⁻¹]_QQ = G_d⁻¹[Qr, Qr] ∘ A_d⁻¹[Qc, Qc] (SPD: a
 * principal block of G_d⁻¹ ⊗ A_d⁻¹; Cholesky), then ΔW̃ = −G_d⁻¹ E_Q(x) A_d⁻¹, where E_Q(x) is x scattered into
 * an R × C̃ zero matrix. E_Q(x) is non-zero on the chunk's m rows only, so ΔW̃ = −G_d⁻¹[:, rows] (E_Q(x)[rows, :]
 * A_d⁻¹): m×C̃×C̃ + R×m×C̃ products instead of the reference's two full R×C̃ GEMMs per chunk. w_Q is read after the
 * earlier chunks' corrections (the reference's --addupdate). With G = I (SparseGPT) G_d⁻¹[:, rows] only selects
 * the rows, and this is exact per-row OBS with A alone. A chunk of one row that loses more weights than it keeps is
 * solved on its kept set instead ({@link #correctRowOnKeptSet}): the same update, from the smaller Cholesky.
 */
public final class ElementCorrection {

    /** The reference scripts' --max-correlate: removed weights solved jointly per chunk. */
    public static final int DEFAULT_MAX_CORRELATE = 2000;

    private ElementCorrection() {
    }

    /**
     * Removes the weights in {@code removed}; rows are chunked in order while the chunk's removed weights stay
     * within {@code maxCorrelate} (a row with more is a chunk of its own, never split). Methods that do not correct
     * only zero. Every removed weight ends exactly zero.
     */
    public static void apply(LayerCurvature c, Linear layer, ElementMask removed, int maxCorrelate) {
        c.requireFits(layer);
        if (removed.rows() != c.rows() || removed.columns() != c.columns()) {
            throw new IllegalArgumentException(c.layer() + ": mask " + removed.rows() + "×" + removed.columns()
                    + " for W̃ " + c.rows() + "×" + c.columns());
        }
        if (maxCorrelate < 1) {
            throw new IllegalArgumentException("max-correlate must be at least 1, got " + maxCorrelate);
        }
        try (MemoryWorkspace ignored = Workspaces.open(Workspaces.PRUNE)) {
            INDArray w = AugmentedWeight.read(layer);
            if (c.method().corrects()) {
                int[][] solved = solved(c, removed);
                // with G = I (SparseGPT) the rows decouple: one row per chunk solves the same system, at a fraction
                // of the joint Cholesky's cost
                for (int[] rows : chunks(solved, c.g().identity() ? 1 : maxCorrelate)) {
                    try (MemoryWorkspace part = Workspaces.open(Workspaces.PRUNE_PART)) {
                        correctChunk(c, w, rows, solved);
                    }
                }
            }
            DoubleBuffer values = w.data().asNioDouble();
            for (int i = 0; i < c.rows(); i++) {
                for (int j : removed.removedIn(i)) {
                    values.put(i * c.columns() + j, 0);
                }
            }
            AugmentedWeight.write(w, layer);
        }
    }

    /**
     * Per row, the removed weights the OBS solve includes: those in live rows and columns. Dead ones are decoupled
     * from the live ones in G_d⁻¹ ⊗ A_d⁻¹ (see {@link DampedFactor}), so leaving them out changes no live
     * correction; they are only zeroed.
     */
    private static int[][] solved(LayerCurvature c, ElementMask removed) {
        int[][] solved = new int[c.rows()][];
        for (int i = 0; i < c.rows(); i++) {
            solved[i] = c.deadRow(i) ? new int[0]
                    : IntStream.of(removed.removedIn(i)).filter(j -> !c.deadColumn(j)).toArray();
        }
        return solved;
    }

    /** Rows with weights to solve, in order, grouped while a group's weights stay within {@code maxCorrelate}. */
    static List<int[]> chunks(int[][] solved, int maxCorrelate) {
        List<int[]> chunks = new ArrayList<>();
        List<Integer> current = new ArrayList<>();
        int count = 0;
        for (int i = 0; i < solved.length; i++) {
            int n = solved[i].length;
            if (n == 0) {
                continue;
            }
            if (count > 0 && count + n > maxCorrelate) {
                chunks.add(current.stream().mapToInt(Integer::intValue).toArray());
                current.clear();
                count = 0;
            }
            current.add(i);
            count += n;
        }
        if (count > 0) {
            chunks.add(current.stream().mapToInt(Integer::intValue).toArray());
        }
        return chunks;
    }

    /** One chunk's joint OBS correction, added to w (which then has ~0 at the chunk's removed weights). */
    private static void correctChunk(LayerCurvature c, INDArray w, int[] rows, int[][] solved) {
        int[] kept = rows.length == 1 ? keptIn(c, rows[0], solved[rows[0]]) : null;
        if (kept != null && kept.length < solved[rows[0]].length) {
            correctRowOnKeptSet(c, w, rows[0], solved[rows[0]], kept);
            return;
        }
        int m = rows.length;
        int columns = c.columns();
        int[][] removedIn = IntStream.of(rows).mapToObj(i -> solved[i]).toArray(int[][]::new);
        int n = IntStream.range(0, m).map(r -> removedIn[r].length).sum();
        int[] rowOf = new int[n];
        int[] columnOf = new int[n];
        for (int r = 0, q = 0; r < m; r++) {
            for (int j : removedIn[r]) {
                rowOf[q] = r;
                columnOf[q++] = j;
            }
        }
        DoubleBuffer weights = w.data().asNioDouble();
        INDArray x = Nd4j.createUninitialized(DataType.DOUBLE, n, 1);
        DoubleBuffer xs = x.data().asNioDouble();
        for (int q = 0; q < n; q++) {
            xs.put(q, weights.get(rows[rowOf[q]] * columns + columnOf[q]));
        }
        INDArray block = inverseCurvatureBlock(c, rows, rowOf, columnOf);
        Cholesky.factor(block, c.layer() + ": [F⁻¹]_QQ of " + n + " weights in rows " + rows[0] + ".." + rows[m - 1]);
        Cholesky.solve(block, x);
        INDArray scattered = Nd4j.zeros(DataType.DOUBLE, m, columns);
        DoubleBuffer e = scattered.data().asNioDouble();
        for (int q = 0; q < n; q++) {
            e.put(rowOf[q] * columns + columnOf[q], xs.get(q));
        }
        c.g().addInverseColumnsTimes(w, rows, c.a().timesInverse(scattered), -1);
    }

    /** The live columns of row i that stay. */
    private static int[] keptIn(LayerCurvature c, int i, int[] removed) {
        boolean[] gone = new boolean[c.columns()];
        IntStream.of(removed).forEach(j -> gone[j] = true);
        return IntStream.range(0, c.columns()).filter(j -> !gone[j] && !c.deadColumn(j)).toArray();
    }

    /**
     * A chunk of one row i that loses most of its live weights: the same update, solved on the kept set P, which is
     * the smaller. For one row [F⁻¹]_QQ = [G_d⁻¹]_ii [A_d⁻¹]_QQ, so Δθ = (G_d⁻¹[:, i] / [G_d⁻¹]_ii) ⊗ d with d the
     * removal of Q from the row alone under A_d, the minimum of ½ dᵀA_d d with d_Q = −w_Q: d_P = [A_d]_PP⁻¹ [A_d]_PQ
     * w_Q (0 on dead columns). A Cholesky of |P| rows instead of |Q|: rows a threshold nearly empties cost
     * (C̃/2)³/3 at most, not C̃³/3.
     */
    private static void correctRowOnKeptSet(LayerCurvature c, INDArray w, int i, int[] removed, int[] kept) {
        int columns = c.columns();
        DoubleBuffer weights = w.data().asNioDouble();
        INDArray removedWeights = Nd4j.zeros(DataType.DOUBLE, columns, 1); // w_Q where it stands, 0 elsewhere
        DoubleBuffer wq = removedWeights.data().asNioDouble();
        for (int j : removed) {
            wq.put(j, weights.get(i * columns + j));
        }
        INDArray d = Nd4j.zeros(DataType.DOUBLE, 1, columns);
        DoubleBuffer dv = d.data().asNioDouble();
        double scale = 1 / c.g().inverseAt(i, i);
        if (kept.length > 0) {
            INDArray dKept = c.a().rowsTimes(kept, removedWeights); // [A_d]_PQ w_Q
            INDArray block = c.a().dampedBlock(kept);
            Cholesky.factor(block, c.layer() + ": [A_d]_PP of the " + kept.length + " weights row " + i + " keeps");
            Cholesky.solve(block, dKept);
            DoubleBuffer dp = dKept.data().asNioDouble();
            for (int p = 0; p < kept.length; p++) {
                dv.put(kept[p], scale * dp.get(p));
            }
        }
        for (int j : removed) {
            dv.put(j, -scale * wq.get(j));
        }
        c.g().addInverseColumnsTimes(w, new int[] {i}, d, 1);
    }

    /** The lower triangle (all that Cholesky reads) of [F⁻¹]_QQ = G_d⁻¹[Qr, Qr] ∘ A_d⁻¹[Qc, Qc]. */
    private static INDArray inverseCurvatureBlock(LayerCurvature c, int[] rows, int[] rowOf, int[] columnOf) {
        int m = rows.length;
        double[][] g = new double[m][m];
        for (int r = 0; r < m; r++) {
            for (int s = 0; s < m; s++) {
                g[r][s] = c.g().inverseAt(rows[r], rows[s]);
            }
        }
        int n = rowOf.length;
        INDArray block = Nd4j.createUninitialized(DataType.DOUBLE, n, n);
        DoubleBuffer values = block.data().asNioDouble();
        DampedFactor a = c.a();
        for (int p = 0; p < n; p++) {
            double[] gp = g[rowOf[p]];
            for (int q = 0; q <= p; q++) {
                values.put(p * n + q, gp[rowOf[q]] * a.inverseAt(columnOf[p], columnOf[q]));
            }
        }
        return block;
    }
}
