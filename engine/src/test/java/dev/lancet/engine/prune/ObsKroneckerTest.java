package dev.lancet.engine.prune;

import static dev.lancet.engine.prune.KroneckerReference.all;
import static dev.lancet.engine.prune.KroneckerReference.damped;
import static dev.lancet.engine.prune.KroneckerReference.kron;
import static dev.lancet.engine.prune.KroneckerReference.obs;
import static dev.lancet.engine.prune.KroneckerReference.quadratic;
import static dev.lancet.engine.prune.TestLayer.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.lancet.engine.nn.Linear;
import java.util.Arrays;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Costs and corrections of a 5 × (6 + 1) layer against the textbook OBS on the explicit Kronecker matrix
 * ({@link KroneckerReference}): ΔL = ½ θ_Qᵀ([F⁻¹]_QQ)⁻¹θ_Q and Δθ = −F⁻¹E_Q([F⁻¹]_QQ)⁻¹θ_Q, with F = G_d ⊗ A_d for
 * elements, G_d ⊗ A for rows (A cancels from the update, and the cost uses the undamped A as the reference) and
 * G ⊗ A_d for columns. fp64 throughout; everything agrees to 1e-10 of the largest value (measured ≤ 1.1e-14).
 */
class ObsKroneckerTest {

    private static final double TOLERANCE = 1e-10;
    private static final Damping DAMPING = new Damping(0.1, 0.05);

    private final TestLayer layer = TestLayer.random(7, 5, 6, true);
    private final int columns = layer.columns();
    private final double[][] gd = damped(layer.g, DAMPING.g(), all(layer.rows));
    private final double[][] ad = damped(layer.a, DAMPING.a(), all(columns));
    private final int[] every = IntStream.range(0, layer.rows * columns).toArray();

    @Test
    void elementCostsAreObsCostsOfTheDampedKroneckerCurvature() {
        double[][] identity = identity(layer.rows);
        for (PruneMethod method : List.of(PruneMethod.SURGEON, PruneMethod.SPARSEGPT)) {
            double[][] f = kron(method == PruneMethod.SURGEON ? gd : identity, ad, every);
            try (LayerCurvature c = layer.curvature(method, DAMPING);
                 INDArray costs = LayerCosts.elements(c, layer.linear(DataType.DOUBLE))) {
                double[] want = IntStream.range(0, every.length)
                        .mapToDouble(q -> obs(f, layer.theta(), new int[] {q}).cost()).toArray();
                assertClose(want, costs.reshape(-1).toDoubleVector(), TOLERANCE, method + " element costs");
            }
        }
    }

    @Test
    void rowAndColumnCostsAreObsCostsWithTheOtherFactorUndamped() {
        Linear linear = layer.linear(DataType.DOUBLE);
        double[][] rowCurvature = kron(gd, layer.a, every);
        double[][] columnCurvature = kron(layer.g, ad, every);
        int[][] rowSets = {{0, 3}, {1, 2, 4}, {2}};
        int[][] columnSets = {{0, 6}, {2, 3, 5}, {4}};
        try (LayerCurvature c = layer.curvature(PruneMethod.SURGEON, DAMPING)) {
            assertClose(IntStream.range(0, layer.rows).mapToDouble(i -> rowCost(rowCurvature, new int[] {i})).toArray(),
                    LayerCosts.rows(c, linear), TOLERANCE, "rows");
            assertClose(IntStream.range(0, columns).mapToDouble(j -> columnCost(columnCurvature, new int[] {j}))
                    .toArray(), LayerCosts.columns(c, linear), TOLERANCE, "columns");
            assertClose(List.of(rowSets).stream().mapToDouble(r -> rowCost(rowCurvature, r)).toArray(),
                    LayerCosts.rowSets(c, linear, rowSets), TOLERANCE, "row sets");
            assertClose(List.of(columnSets).stream().mapToDouble(s -> columnCost(columnCurvature, s)).toArray(),
                    LayerCosts.columnSets(c, linear, columnSets), TOLERANCE, "column sets");
        }
    }

    @Test
    void rowCorrectionIsTheObsUpdateAndCostsWhatItPredicts() {
        int[] rows = {3, 1};
        Linear linear = layer.linear(DataType.DOUBLE);
        double predicted;
        try (LayerCurvature c = layer.curvature(PruneMethod.SURGEON, DAMPING)) {
            predicted = LayerCosts.rowSets(c, linear, new int[][] {rows})[0];
            StructureCorrection.rows(c, linear, rows);
        }
        int[] q = parametersOfRows(rows);
        assertCorrected(kron(gd, layer.a, every), q, linear, predicted); // A cancels from the update
    }

    @Test
    void columnCorrectionIsTheObsUpdateAndCostsWhatItPredicts() {
        int[] cols = {6, 2}; // the bias column and an input
        Linear linear = layer.linear(DataType.DOUBLE);
        double predicted;
        try (LayerCurvature c = layer.curvature(PruneMethod.SURGEON, DAMPING)) {
            predicted = LayerCosts.columnSets(c, linear, new int[][] {cols})[0];
            StructureCorrection.columns(c, linear, cols);
        }
        int[] q = parametersOfColumns(cols);
        assertCorrected(kron(layer.g, ad, every), q, linear, predicted); // G cancels from the update
    }

    @Test
    void singleElementCorrectionIsTheObsUpdateAndCostsItsElementCost() {
        Linear linear = layer.linear(DataType.DOUBLE);
        ElementMask mask = new ElementMask(layer.rows, columns);
        mask.remove(2, 3);
        double predicted;
        try (LayerCurvature c = layer.curvature(PruneMethod.SURGEON, DAMPING);
             INDArray costs = LayerCosts.elements(c, linear)) {
            predicted = costs.getDouble(2, 3);
            ElementCorrection.apply(c, linear, mask, ElementCorrection.DEFAULT_MAX_CORRELATE);
        }
        assertCorrected(kron(gd, ad, every), new int[] {2 * columns + 3}, linear, predicted);
    }

    @Test
    void oneChunkOfElementsIsTheJointObsUpdate() {
        Linear linear = layer.linear(DataType.DOUBLE);
        try (LayerCurvature c = layer.curvature(PruneMethod.SURGEON, DAMPING)) {
            ElementCorrection.apply(c, linear, mask(), 100);
        }
        double[][] f = kron(gd, ad, every);
        assertCorrected(f, MASKED, linear, obs(f, layer.theta(), MASKED).cost());
    }

    @Test
    void chunksAreSolvedInTurnEachFromTheWeightsTheLastOneLeft() {
        int[][] solved = {{1, 4}, {0, 6}, {}, {2, 3, 5}, {}};
        assertChunks(List.of(new int[] {0}, new int[] {1}, new int[] {3}), ElementCorrection.chunks(solved, 3));
        assertChunks(List.of(new int[] {0, 1}, new int[] {3}), ElementCorrection.chunks(solved, 4));
        assertChunks(List.of(new int[] {0}, new int[] {1}, new int[] {3}), ElementCorrection.chunks(solved, 1));

        Linear linear = layer.linear(DataType.DOUBLE);
        try (LayerCurvature c = layer.curvature(PruneMethod.SURGEON, DAMPING)) {
            ElementCorrection.apply(c, linear, mask(), 3);
        }
        double[][] f = kron(gd, ad, every);
        double[] theta = layer.theta();
        for (int[] chunk : new int[][] {{1, 4}, {columns, columns + 6}, {3 * columns + 2, 3 * columns + 3,
                3 * columns + 5}}) {
            theta = added(theta, obs(f, theta, chunk).delta());
        }
        for (int q : MASKED) {
            theta[q] = 0;
        }
        double[] got = TestLayer.theta(linear);
        assertClose(theta, got, TOLERANCE, "three chunks in turn");
        assertExactlyZero(got, MASKED);
    }

    @Test
    void rowsThatLoseMostOfTheirWeightsGiveTheSameUpdateSolvedOnTheirKeptSet() {
        // row 0 loses everything, row 2 five of seven (both solved on the kept set), row 4 one weight
        int[][] chunks = {IntStream.range(0, columns).toArray(), {14, 15, 16, 18, 20}, {31}};
        for (PruneMethod method : List.of(PruneMethod.SURGEON, PruneMethod.SPARSEGPT)) {
            ElementMask mask = new ElementMask(layer.rows, columns);
            Arrays.stream(chunks).flatMapToInt(IntStream::of).forEach(q -> mask.remove(q / columns, q % columns));
            Linear linear = layer.linear(DataType.DOUBLE);
            try (LayerCurvature c = layer.curvature(method, DAMPING)) {
                ElementCorrection.apply(c, linear, mask, 1);
            }
            double[][] f = kron(method == PruneMethod.SURGEON ? gd : identity(layer.rows), ad, every);
            double[] theta = layer.theta();
            for (int[] chunk : chunks) {
                theta = added(theta, obs(f, theta, chunk).delta());
            }
            for (int[] chunk : chunks) {
                for (int q : chunk) {
                    theta[q] = 0;
                }
            }
            assertClose(theta, TestLayer.theta(linear), TOLERANCE, method + " rows solved one by one");
        }
    }

    @Test
    void sparseGptIsExactObsPerRowWithTheInputFactorAlone() {
        Linear linear = layer.linear(DataType.DOUBLE);
        try (LayerCurvature c = layer.curvature(PruneMethod.SPARSEGPT, DAMPING)) {
            ElementCorrection.apply(c, linear, mask(), 100);
        }
        double[][] f = kron(identity(layer.rows), ad, every);
        assertCorrected(f, MASKED, linear, obs(f, layer.theta(), MASKED).cost());
        double[] got = TestLayer.theta(linear);
        for (int q = 2 * columns; q < 3 * columns; q++) { // a row without removals is left exactly as it was
            assertEquals(layer.theta()[q], got[q], 0.0);
        }
    }

    /** Rows 0, 1 and 3 lose 2, 2 and 3 weights; row 1 its bias. */
    private static final int[] MASKED = {1, 4, 7, 13, 23, 24, 26};

    private ElementMask mask() {
        ElementMask mask = new ElementMask(layer.rows, columns);
        IntStream.of(MASKED).forEach(q -> mask.remove(q / columns, q % columns));
        return mask;
    }

    /**
     * The layer's weights are θ + Δθ of the textbook OBS removal of q under f, exactly zero on q, and both the
     * textbook cost and their loss increase ½ ΔθᵀfΔθ are the predicted cost.
     */
    private void assertCorrected(double[][] f, int[] q, Linear linear, double predicted) {
        KroneckerReference.Obs want = obs(f, layer.theta(), q);
        double[] got = TestLayer.theta(linear);
        assertClose(added(layer.theta(), want.delta()), got, TOLERANCE, "update");
        assertExactlyZero(got, q);
        assertEquals(predicted, quadratic(f, subtract(got, layer.theta())), TOLERANCE * predicted, "loss increase");
        assertEquals(want.cost(), predicted, TOLERANCE * predicted, "predicted cost");
    }

    private static void assertChunks(List<int[]> want, List<int[]> got) {
        assertEquals(want.size(), got.size());
        for (int k = 0; k < want.size(); k++) {
            assertArrayEquals(want.get(k), got.get(k));
        }
    }

    private double rowCost(double[][] f, int[] rows) {
        return obs(f, layer.theta(), parametersOfRows(rows)).cost();
    }

    private double columnCost(double[][] f, int[] cols) {
        return obs(f, layer.theta(), parametersOfColumns(cols)).cost();
    }

    private int[] parametersOfRows(int[] rows) {
        return IntStream.of(rows).sorted().flatMap(i -> IntStream.range(i * columns, (i + 1) * columns)).toArray();
    }

    private int[] parametersOfColumns(int[] cols) {
        return IntStream.range(0, layer.rows).flatMap(i -> IntStream.of(cols).sorted().map(j -> i * columns + j))
                .toArray();
    }

    static double[][] identity(int n) {
        double[][] m = new double[n][n];
        for (int i = 0; i < n; i++) {
            m[i][i] = 1;
        }
        return m;
    }

    static double[] added(double[] x, double[] y) {
        return IntStream.range(0, x.length).mapToDouble(i -> x[i] + y[i]).toArray();
    }

    static double[] subtract(double[] x, double[] y) {
        return IntStream.range(0, x.length).mapToDouble(i -> x[i] - y[i]).toArray();
    }

    static void assertExactlyZero(double[] theta, int[] q) {
        for (int p : q) {
            assertEquals(0.0, theta[p], 0.0, "removed weight " + p);
        }
    }
}
