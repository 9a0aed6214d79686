package dev.lancet.engine.prune;

import static dev.lancet.engine.prune.KroneckerReference.damped;
import static dev.lancet.engine.prune.KroneckerReference.kron;
import static dev.lancet.engine.prune.KroneckerReference.liveParameters;
import static dev.lancet.engine.prune.KroneckerReference.obs;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lancet.engine.nn.Linear;
import java.util.Arrays;
import java.util.List;
import java.util.function.Consumer;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Dead rows and columns: row 0 and column 1 of W̃ all zero (removed by an earlier shot), no gradient ever reaches
 * output 2 (G_22 = 0) and input 4 is always 0 (A_44 = 0). Nothing is NaN or infinite, with or without damping;
 * everything along a dead index costs exactly 0; and costs and corrections of the live weights equal the
 * reference code's way, the textbook OBS on the live sub-matrices (dead indices deleted before damping), to 1e-10.
 */
class DeadStructuresTest {

    private static final boolean[] LIVE_ROWS = {false, true, false, true, true};
    private static final boolean[] LIVE_COLUMNS = {true, false, true, true, false, true, true};

    private final TestLayer layer = deadLayer();
    private final int columns = layer.columns();
    private final int[] live = liveParameters(LIVE_ROWS, LIVE_COLUMNS);

    private static TestLayer deadLayer() {
        TestLayer layer = TestLayer.random(11, 5, 6, true, new int[] {2}, new int[] {4});
        Arrays.fill(layer.w[0], 0);
        for (double[] row : layer.w) {
            row[1] = 0;
        }
        return layer;
    }

    @Test
    void deadStructuresCostZeroAndLiveOnesWhatTheLiveSubproblemSays() {
        for (Damping damping : List.of(new Damping(0.1, 0.05), new Damping(0, 0))) {
            double[][] f = liveCurvature(damping);
            double[] theta = liveTheta(layer.theta());
            Linear linear = layer.linear(DataType.DOUBLE);
            try (LayerCurvature c = layer.curvature(PruneMethod.SURGEON, damping);
                 INDArray costs = LayerCosts.elements(c, linear)) {
                double[] got = costs.reshape(-1).toDoubleVector();
                for (int q = 0; q < got.length; q++) {
                    int at = Arrays.binarySearch(live, q);
                    double want = at < 0 ? 0 : obs(f, theta, new int[] {at}).cost();
                    assertEquals(want, got[q], 1e-10 * Math.abs(want), damping + " element " + q);
                }
                double[] rows = LayerCosts.rows(c, linear);
                double[] cols = LayerCosts.columns(c, linear);
                for (int i = 0; i < layer.rows; i++) {
                    assertEquals(!LIVE_ROWS[i], rows[i] == 0, "row " + i + " costs " + rows[i]);
                    assertEquals(LIVE_ROWS[i], !c.deadRow(i));
                }
                for (int j = 0; j < columns; j++) {
                    assertEquals(!LIVE_COLUMNS[j], cols[j] == 0, "column " + j + " costs " + cols[j]);
                }
                assertEquals(0.0, LayerCosts.rowSets(c, linear, new int[][] {{0, 2}})[0], 0.0);
                assertEquals(0.0, LayerCosts.columnSets(c, linear, new int[][] {{1, 4}})[0], 0.0);
            }
        }
    }

    @Test
    void correctionsOfTheLiveWeightsAreTheLiveSubproblemsObs() {
        Damping damping = new Damping(0.1, 0.05);
        double[][] f = liveCurvature(damping);
        // elements at a threshold: every dead weight (cost 0) goes with the cheap live ones
        ElementMask mask;
        try (LayerCurvature c = layer.curvature(PruneMethod.SURGEON, damping);
             INDArray costs = LayerCosts.elements(c, layer.linear(DataType.DOUBLE))) {
            double[] positive = Arrays.stream(costs.reshape(-1).toDoubleVector()).filter(v -> v > 0).sorted().toArray();
            mask = ElementMask.atMost(costs, positive[positive.length / 2]);
        }
        int[] masked = IntStream.range(0, layer.rows * columns).filter(q -> mask.isRemoved(q / columns, q % columns))
                .toArray();
        assertTrue(IntStream.range(0, layer.rows * columns)
                .allMatch(q -> Arrays.binarySearch(live, q) >= 0 || Arrays.binarySearch(masked, q) >= 0));
        assertEquals(20 + 8, masked.length, "every dead weight and half the live ones");
        assertLiveCorrection(f, damping, l -> {
            try (LayerCurvature c = layer.curvature(PruneMethod.SURGEON, damping)) {
                ElementCorrection.apply(c, l, mask, 100);
            }
        }, masked);
        assertLiveCorrection(f, damping, l -> {
            try (LayerCurvature c = layer.curvature(PruneMethod.SURGEON, damping)) {
                StructureCorrection.rows(c, l, new int[] {0, 2, 3});
            }
        }, IntStream.range(3 * columns, 4 * columns).toArray());
        assertLiveCorrection(f, damping, l -> {
            try (LayerCurvature c = layer.curvature(PruneMethod.SURGEON, damping)) {
                StructureCorrection.columns(c, l, new int[] {1, 4, 5});
            }
        }, IntStream.range(0, layer.rows).map(i -> i * columns + 5).toArray());
    }

    @Test
    void aRowLosingMostOfItsLiveWeightsIsSolvedOnItsLiveKeptSet() {
        Damping damping = new Damping(0.1, 0.05);
        ElementMask mask = new ElementMask(layer.rows, columns);
        int[] removed = IntStream.range(0, layer.rows * columns)
                .filter(q -> Arrays.binarySearch(live, q) < 0 || q == columns || q == columns + 2 || q == columns + 3)
                .toArray(); // every dead weight, and three of the five live weights of row 1
        IntStream.of(removed).forEach(q -> mask.remove(q / columns, q % columns));
        assertLiveCorrection(liveCurvature(damping), damping, l -> {
            try (LayerCurvature c = layer.curvature(PruneMethod.SURGEON, damping)) {
                ElementCorrection.apply(c, l, mask, 1);
            }
        }, removed);
    }

    /**
     * After {@code removal}, the live weights are the live subproblem's OBS removal of the live ones of
     * {@code removed}, every removed weight is exactly 0 and nothing is NaN or infinite.
     */
    private void assertLiveCorrection(double[][] f, Damping damping, Consumer<Linear> removal, int[] removed) {
        Linear linear = layer.linear(DataType.DOUBLE);
        removal.accept(linear);
        double[] got = TestLayer.theta(linear);
        assertTrue(Arrays.stream(got).allMatch(Double::isFinite), "finite");
        int[] qLive = IntStream.of(removed).map(p -> Arrays.binarySearch(live, p)).filter(at -> at >= 0).toArray();
        double[] theta = liveTheta(layer.theta());
        double[] want = ObsKroneckerTest.added(theta, obs(f, theta, qLive).delta());
        for (int at : qLive) {
            want[at] = 0;
        }
        TestLayer.assertClose(want, liveTheta(got), 1e-10, damping + " live weights");
        for (int p : removed) {
            assertEquals(0.0, got[p], 0.0, "removed weight " + p);
        }
    }

    private double[][] liveCurvature(Damping damping) {
        return kron(damped(layer.g, damping.g(), LIVE_ROWS), damped(layer.a, damping.a(), LIVE_COLUMNS), live);
    }

    private double[] liveTheta(double[] theta) {
        return IntStream.of(live).mapToDouble(q -> theta[q]).toArray();
    }
}
