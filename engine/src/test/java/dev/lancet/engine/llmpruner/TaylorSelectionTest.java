package dev.lancet.engine.llmpruner;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.nd4j.linalg.indexing.NDArrayIndex.all;
import static org.nd4j.linalg.indexing.NDArrayIndex.interval;

import dev.lancet.engine.Fixtures;
import dev.lancet.engine.io.DType;
import dev.lancet.engine.model.Checkpoint;
import dev.lancet.engine.model.ModelLayout;
import dev.lancet.engine.model.StructuralEdit;
import dev.lancet.engine.model.SyntheticCheckpoint;
import dev.lancet.engine.model.TensorNames.LinearRole;
import dev.lancet.engine.model.TokenBatch;
import dev.lancet.engine.model.Transformer;
import dev.lancet.engine.prune.UnitReport;
import dev.lancet.engine.text.CalibrationSource;
import dev.lancet.engine.text.Tokenizer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Which groups LLM-Pruner removes and how many: groups zeroed by hand score zero, are the ones chosen, and removing
 * them leaves the logits unchanged (GQA and OPT with biases; query heads inside GQA groups); counts reproduce the
 * reference's choice on tiny-llama; the layer range's default rule; targets a block cannot take are refused.
 */
class TaylorSelectionTest {

    @TempDir
    Path tmp;

    /** 3 blocks, 6 query heads in 2 KV groups of 3 (head width 4), 8 MLP channels, biases everywhere. */
    private static final SyntheticCheckpoint.Spec GQA = new SyntheticCheckpoint.Spec("llama", 4096, 24, 24, 3, 6, 2, 8,
            64, true, false, false, DType.F32, 0.2, 11);
    /** 2 blocks, 4 heads of width 4, 8 MLP channels, biases everywhere. */
    private static final SyntheticCheckpoint.Spec OPT = new SyntheticCheckpoint.Spec("opt", 4096, 16, 16, 2, 4, 4, 8,
            64, true, true, false, DType.F32, 0.2, 12);

    @Test
    void groupsZeroedByHandAreChosenAndTheirRemovalChangesNoLogit() {
        for (Importance importance : List.of(Importance.ELEMENT1, Importance.ELEMENT2)) {
            // GQA: KV head 1 with query heads 3..5, and channels 1, 2, 5, 6 of every block: half of each kind
            zeroedTwin(GQA, 1, new int[] {1, 2, 5, 6}, importance);
            // multi-head OPT: head 2, and half the channels
            zeroedTwin(OPT, 2, new int[] {0, 3, 4, 7}, importance);
        }
    }

    private void zeroedTwin(SyntheticCheckpoint.Spec spec, int kvHead, int[] channels, Importance importance) {
        Path dir = tmp.resolve(spec.arch());
        if (!dir.toFile().exists()) {
            SyntheticCheckpoint.write(spec, dir);
        }
        try (Checkpoint checkpoint = Checkpoint.open(dir);
             Tokenizer tokenizer = Tokenizer.load(Fixtures.tinyLlama().resolve("tokenizer.json"))) {
            Transformer model = Transformer.load(checkpoint, DataType.DOUBLE);
            int blocks = model.layout().numBlocks();
            int group = spec.heads() / spec.kvHeads();
            int d = spec.hidden() / spec.heads();
            for (int b = 0; b < blocks; b++) {
                zeroRows(model, b, LinearRole.Q, kvHead * group * d, group * d);
                zeroRows(model, b, LinearRole.K, kvHead * d, d);
                zeroRows(model, b, LinearRole.V, kvHead * d, d);
                weight(model, b, LinearRole.O).get(all(), interval(kvHead * group * d, (kvHead + 1) * group * d))
                        .assign(0);
                for (int c : channels) {
                    zeroRows(model, b, LinearRole.UP, c, 1);
                    weight(model, b, LinearRole.DOWN).get(all(), interval(c, c + 1)).assign(0);
                }
            }
            // one KV head (with its query heads) and the channels, in every block: exactly half of each kind
            // q rows and o columns of the query heads, k and v rows; a gate and up row (or an fc1 row) and a column
            int h = spec.hidden();
            int producers = spec.arch().equals("opt") ? 1 : 2;
            long perBlock = (long) group * d * (2L * h + 1) + 2L * d * (h + 1)
                    + (long) channels.length * (producers * (h + 1L) + h);
            TokenBatch tokens = new TokenBatch(2, 10, new SplittableRandom(4).ints(20, 0, spec.vocab()).toArray());
            INDArray before = model.logits(tokens);
            long parameters = model.parameterCount();
            CalibrationSource source = CalibrationSource.of(tokenizer, List.of(Fixtures.calibrationText()), 4, 16,
                    CalibrationSource.Sampling.RANDOM, 1);
            List<UnitReport> chosen;
            try (TaylorGradients gradients = TaylorGradients.of(model, source, importance.needsFisher(), 2, n -> { })) {
                chosen = TaylorSelection.select(model, blocks * perBlock,
                        new TaylorSettings(Strategy.BLOCKS, importance, Aggregation.SUM, null, 0), gradients);
            }
            for (UnitReport r : chosen) {
                assertEquals(List.of(kvHead), r.kvHeads(), importance + " heads of block " + r.block());
                assertArrayEquals(channels, r.channels().stream().mapToInt(Integer::intValue).toArray(),
                        importance + " channels of block " + r.block());
            }
            try (Transformer edited = TaylorScoresTest.edit(chosen).applyTo(model)) {
                INDArray after = edited.logits(tokens);
                double scale = before.amaxNumber().doubleValue();
                assertTrue(before.sub(after).amaxNumber().doubleValue() <= 1e-9 * scale, "logits changed");
                assertEquals(parameters - blocks * perBlock, edited.parameterCount());
            }
        }
    }

    /**
     * Query heads inside GQA groups: query head 1 of group 0 and head 4 of group 1 (of 3 each) and 6 of the 8 MLP
     * channels, zeroed by hand in every block, score zero, are the ones chosen (every key/value head kept), and
     * removing them leaves the logits unchanged.
     */
    @Test
    void queryHeadsZeroedByHandAreChosenFromEveryGroup() {
        Path dir = tmp.resolve("gqa-query");
        SyntheticCheckpoint.write(GQA, dir);
        int[] channels = {0, 1, 2, 5, 6, 7};
        try (Checkpoint checkpoint = Checkpoint.open(dir);
             Tokenizer tokenizer = Tokenizer.load(Fixtures.tinyLlama().resolve("tokenizer.json"))) {
            Transformer model = Transformer.load(checkpoint, DataType.DOUBLE);
            int d = GQA.hidden() / GQA.heads();
            int h = GQA.hidden();
            for (int b = 0; b < GQA.layers(); b++) {
                for (int head : new int[] {1, 4}) {
                    zeroRows(model, b, LinearRole.Q, head * d, d);
                    weight(model, b, LinearRole.O).get(all(), interval(head * d, (head + 1) * d)).assign(0);
                }
                for (int c : channels) {
                    zeroRows(model, b, LinearRole.UP, c, 1);
                    weight(model, b, LinearRole.DOWN).get(all(), interval(c, c + 1)).assign(0);
                }
            }
            // two query heads (q rows with bias, o columns), the channels (gate and up rows with bias, a down column)
            long perBlock = 2L * d * (2L * h + 1) + channels.length * (2 * (h + 1L) + h);
            TokenBatch tokens = new TokenBatch(2, 10, new SplittableRandom(4).ints(20, 0, GQA.vocab()).toArray());
            INDArray before = model.logits(tokens);
            long parameters = model.parameterCount();
            CalibrationSource source = CalibrationSource.of(tokenizer, List.of(Fixtures.calibrationText()), 4, 16,
                    CalibrationSource.Sampling.RANDOM, 1);
            List<UnitReport> chosen;
            try (TaylorGradients gradients = TaylorGradients.of(model, source, false, 2, n -> { })) {
                chosen = TaylorSelection.select(model, GQA.layers() * perBlock, new TaylorSettings(
                        Strategy.QUERY_HEADS, Importance.ELEMENT1, Aggregation.SUM, null, 0), gradients);
            }
            StructuralEdit edit = new StructuralEdit();
            for (UnitReport r : chosen) {
                assertEquals(List.of(1, 4), r.heads(), "query heads of block " + r.block());
                assertEquals(List.of(), r.kvHeads());
                assertArrayEquals(channels, r.channels().stream().mapToInt(Integer::intValue).toArray());
                edit.dropHeads(r.block(), r.heads()).dropChannels(r.block(), r.channels());
            }
            try (Transformer edited = edit.applyTo(model)) {
                assertEquals(2, edited.layout().block(0).kvHeads());
                assertEquals(4, edited.layout().block(0).heads());
                INDArray after = edited.logits(tokens);
                assertTrue(before.sub(after).amaxNumber().doubleValue()
                        <= 1e-9 * before.amaxNumber().doubleValue(), "logits changed");
                assertEquals(parameters - GQA.layers() * perBlock, edited.parameterCount());
            }
        }
    }

    private static TaylorSettings settings(LayerRange layers) {
        return new TaylorSettings(Strategy.BLOCKS, Importance.ELEMENT1, Aggregation.SUM, layers, 0);
    }

    /** Rows {@code from}.. of a layer, its bias entries included; for MLP channels the gate rows too. */
    private static void zeroRows(Transformer model, int block, LinearRole role, int from, int count) {
        List<LinearRole> roles = role == LinearRole.UP && model.config().feedForward().name().equals("SILU_GATED")
                ? List.of(LinearRole.GATE, LinearRole.UP) : List.of(role);
        for (LinearRole r : roles) {
            weight(model, block, r).get(interval(from, from + count), all()).assign(0);
            INDArray bias = model.parameters().get(model.names().linear(block, r) + ".bias");
            if (bias != null) {
                bias.get(interval(from, from + count)).assign(0);
            }
        }
    }

    private static INDArray weight(Transformer model, int block, LinearRole role) {
        return model.parameters().get(model.names().linear(block, role) + ".weight");
    }

    @Test
    void tinyLlamaCountsAreTheReferencesAtItsParameterCount() {
        try (Checkpoint checkpoint = Checkpoint.open(Fixtures.tinyLlama())) {
            ModelLayout layout = checkpoint.layout();
            // the reference's Element¹ run removed 3,344,064 − 3,008,448 parameters: 1 head and 103 channels per block
            int[][] counts = TaylorSelection.counts(layout, 3_344_064 - 3_008_448, LayerRange.defaultFor(4),
                    Strategy.BLOCKS);
            assertArrayEquals(new int[] {1, 1, 1, 1}, counts[0]);
            assertArrayEquals(new int[] {103, 103, 103, 103}, counts[1]);
            // 20% of all parameters: 668,813; whole channels land within half a channel per block of it
            counts = TaylorSelection.counts(layout, 668_813, LayerRange.defaultFor(4), Strategy.BLOCKS);
            long removed = 0;
            for (int b = 0; b < 4; b++) {
                removed += counts[0][b] * 24_576L + counts[1][b] * 576L;
            }
            assertTrue(Math.abs(removed - 668_813) <= 2 * 576, "removed " + removed);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> TaylorSelection.check(checkpoint.config(), layout, 1_800_000, settings(null)));
            assertTrue(e.getMessage().contains("every head of block 0"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> TaylorSelection.check(checkpoint.config(), layout, 430_000, settings(new LayerRange(3, 4))));
            // 5 of 6 heads, then more channels than block 3 has
            assertTrue(e.getMessage().contains("every MLP channel of block 3"), e.getMessage());
        }
    }

    @Test
    void aggregationsCombineMembersInLayerOrder() {
        double[] members = {2, 3, 0.5};
        assertEquals(5.5, Aggregation.SUM.reduce(members), 1e-15);
        assertEquals(Math.log(3), Aggregation.PRODUCT.reduce(members), 1e-15);
        assertEquals(3, Aggregation.MAX.reduce(members), 0);
        assertEquals(0.5, Aggregation.LAST.reduce(members), 0);
        // a product of hundreds of small scores underflows doubles; its logarithm still ranks
        double[] tiny = new double[400];
        Arrays.fill(tiny, 1e-3);
        double[] tinier = tiny.clone();
        tinier[0] = 1e-4;
        assertTrue(Aggregation.PRODUCT.reduce(tinier) < Aggregation.PRODUCT.reduce(tiny));
    }

    @Test
    void theDefaultRangeScalesTheReferencesToTheDepth() {
        assertEquals(new LayerRange(4, 30), LayerRange.defaultFor(32));
        assertEquals(new LayerRange(0, 4), LayerRange.defaultFor(4));
        assertEquals(new LayerRange(1, 12), LayerRange.defaultFor(12));
        assertEquals(new LayerRange(3, 23), LayerRange.defaultFor(24));
        assertEquals(new LayerRange(3, 8), LayerRange.parse("3:8"));
        assertThrows(IllegalArgumentException.class, () -> LayerRange.parse("3-8"));
        assertThrows(IllegalArgumentException.class, () -> LayerRange.parse("5:5"));
        assertThrows(IllegalArgumentException.class, () -> new LayerRange(0, 5).check(4));
    }
}
