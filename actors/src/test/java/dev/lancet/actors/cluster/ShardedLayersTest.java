package dev.lancet.actors.cluster;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lancet.engine.Fixtures;
import dev.lancet.engine.model.Checkpoint;
import dev.lancet.engine.model.ModelLayout;
import org.junit.jupiter.api.Test;

/** A cluster run whose messages would not fit Artery's large-message frame is refused, naming what and the knob. */
class ShardedLayersTest {

    @Test
    void aRunWhoseMessagesExceedTheFrameIsRefusedWithTheSizes() throws Exception {
        ModelLayout layout;
        try (Checkpoint checkpoint = Checkpoint.open(Fixtures.tinyLlama())) {
            layout = checkpoint.layout();
        }
        long rows = 8 * 128;
        // the largest (a, g) of one layer for a batch of fp32 values, computed independently of the check
        long widest = layout.linears().stream().mapToLong(l -> (long) l.in() + l.out()).max().orElseThrow();
        long activations = rows * widest * Float.BYTES;
        long sums = layout.blocks().get(0).linears().stream().mapToLong(l -> Double.BYTES
                * ((long) l.inputsWithBias() * l.inputsWithBias() + (long) l.out() * l.out())).sum();
        long largest = Math.max(activations, sums);
        assertDoesNotThrow(() -> ShardedLayers.checkFits(layout, rows, Float.BYTES, 2 * largest));

        var small = assertThrows(IllegalArgumentException.class,
                () -> ShardedLayers.checkFits(layout, rows, Float.BYTES, activations - 1));
        assertTrue(small.getMessage().contains("activations for a batch"), small.getMessage());
        assertTrue(small.getMessage().contains("maximum-large-frame-size (" + (activations - 1) + ")"),
                small.getMessage());
        var sumsTooLarge = assertThrows(IllegalArgumentException.class,
                () -> ShardedLayers.checkFits(layout, 1, Float.BYTES, sums - 1));
        assertTrue(sumsTooLarge.getMessage().contains("KFAC sums of block"), sumsTooLarge.getMessage());
    }
}
