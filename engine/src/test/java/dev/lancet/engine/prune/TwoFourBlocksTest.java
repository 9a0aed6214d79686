package dev.lancet.engine.prune;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lancet.engine.model.LinearLayout;
import dev.lancet.engine.model.TensorNames.LinearRole;
import dev.lancet.engine.nn.Linear;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * 2:4 blocks are the aligned groups of 4 of the weight's own columns, with or without a bias column after them; a
 * block costs its two cheapest elements, and after the corrected removal every selected group (at the last shot:
 * every group) holds at least two exact zeros: violations 0.
 */
class TwoFourBlocksTest {

    @Test
    void everyGroupOfFourIsTwoFourAfterTheFinalShotWithAndWithoutBias() {
        for (boolean bias : List.of(true, false)) {
            for (PruneMethod method : List.of(PruneMethod.SURGEON, PruneMethod.SPARSEGPT, PruneMethod.MAGNITUDE)) {
                TestLayer layer = TestLayer.random(13, 6, 16, bias);
                Linear linear = layer.linear(DataType.FLOAT);
                try (LayerCurvature c = layer.curvature(method, Damping.ELEMENTS);
                     INDArray costs = LayerCosts.elements(c, linear)) {
                    TwoFourBlocks blocks = TwoFourBlocks.of(c, costs);
                    assertBlockCostsAreTheTwoCheapest(costs, blocks.costs());
                    double median = Arrays.stream(blocks.costs()).sorted().toArray()[12];
                    ElementMask half = blocks.mask(median);
                    assertEquals(blocks.removalCount().count(median), half.count());
                    assertEquals(26, half.count(), "the 13 cheapest of 24 blocks");
                    ElementMask every = blocks.mask(Double.POSITIVE_INFINITY);
                    assertEquals(6 * 16 / 2, every.count());
                    for (int i = 0; i < 6; i++) {
                        assertFalse(bias && every.isRemoved(i, 16), "the bias is in no block");
                    }
                    ElementCorrection.apply(c, linear, every, ElementCorrection.DEFAULT_MAX_CORRELATE);
                }
                assertEquals(0, violations(linear.weight()), method + (bias ? " with bias" : ""));
            }
        }
    }

    @Test
    void widthsThatAreNotMultiplesOfFourAreRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> TwoFourBlocks.check(new LinearLayout("model.layers.0.fc1", LinearRole.UP, 18, 8, true)));
        assertTrue(e.getMessage().contains("model.layers.0.fc1 has 18 inputs"), e.getMessage());
        TestLayer layer = TestLayer.random(1, 3, 6, true);
        try (LayerCurvature c = layer.curvature(PruneMethod.SURGEON, Damping.ELEMENTS);
             INDArray costs = LayerCosts.elements(c, layer.linear(DataType.DOUBLE))) {
            assertThrows(IllegalArgumentException.class, () -> TwoFourBlocks.of(c, costs));
        }
    }

    /** Blocks of a layer with 16 inputs: 4 per row. */
    private static void assertBlockCostsAreTheTwoCheapest(INDArray costs, double[] blockCosts) {
        int perRow = 4;
        assertEquals(costs.rows() * perRow, blockCosts.length);
        for (int at = 0; at < blockCosts.length; at++) {
            int row = at / perRow;
            int first = 4 * (at % perRow);
            double[] block = new double[4];
            for (int p = 0; p < 4; p++) {
                block[p] = costs.getDouble(row, first + p);
            }
            Arrays.sort(block);
            assertEquals(block[0] + block[1], blockCosts[at], 0.0, "block " + at);
        }
    }

    /** Aligned groups of 4 weight columns with fewer than two zeros. */
    static int violations(INDArray weight) {
        int count = 0;
        for (int i = 0; i < weight.rows(); i++) {
            for (int b = 0; b + 4 <= weight.columns(); b += 4) {
                int zeros = 0;
                for (int p = 0; p < 4; p++) {
                    zeros += weight.getDouble(i, b + p) == 0 ? 1 : 0;
                }
                count += zeros < 2 ? 1 : 0;
            }
        }
        return count;
    }
}
