package dev.lancet.engine.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.nd4j.linalg.indexing.NDArrayIndex.all;
import static org.nd4j.linalg.indexing.NDArrayIndex.interval;

import dev.lancet.engine.Fixtures;
import dev.lancet.engine.io.DType;
import dev.lancet.engine.io.SafetensorsFile;
import dev.lancet.engine.io.TensorInfo;
import dev.lancet.engine.model.TensorNames.LinearRole;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import java.util.stream.LongStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Structural edits against a second construction of the same function: dropping a live structure gives the
 * logits of its zero-masked twin (its output columns zeroed: o for heads, down/fc2 for channels, a block's output
 * projections and their biases for a block), and dropping a structure already zeroed by hand changes nothing.
 * Then the shrunk model's save, reload and re-save.
 */
class StructuralEditTest {

    @TempDir
    Path tmp;

    /** A GQA Llama with biases everywhere: 6 query heads in 2 groups of 3, 3 blocks. */
    private Path gqa() {
        Path dir = tmp.resolve("gqa");
        if (!Files.exists(dir)) {
            SyntheticCheckpoint.write(new SyntheticCheckpoint.Spec("llama", 97, 48, 48, 3, 6, 2, 40, 64, true, false, false,
                    DType.F32, 0.2, 5), dir);
        }
        return dir;
    }

    @Test
    void droppedHeadsEqualTheirZeroMaskedTwins() {
        // OPT and Llama MHA: a head and its key/value head are one structure
        twin(Fixtures.tinyOpt(), new StructuralEdit().dropHeads(0, List.of(1)).dropHeads(2, List.of(0, 3)), m -> {
            zeroHeadOutputs(m, 0, 1);
            zeroHeadOutputs(m, 2, 0, 3);
        });
        twin(Fixtures.tinyLlama(), new StructuralEdit().dropHeads(1, List.of(5)), m -> zeroHeadOutputs(m, 1, 5));
        // GQA: one query head from each group of 3 (heads 0..2 use KV head 0, 3..5 KV head 1)
        twin(gqa(), new StructuralEdit().dropHeads(0, List.of(1, 3)), m -> zeroHeadOutputs(m, 0, 1, 3));
    }

    @Test
    void droppedKvHeadsTakeTheirQueryHeads() {
        twin(gqa(), new StructuralEdit().dropKvHeads(1, List.of(0)), m -> zeroHeadOutputs(m, 1, 0, 1, 2));
        // KV heads and query heads of the same block in one edit: group 1 goes, then one query head of group 0
        twin(gqa(), new StructuralEdit().dropKvHeads(2, List.of(1)).dropHeads(2, List.of(2)),
                m -> zeroHeadOutputs(m, 2, 2, 3, 4, 5));
    }

    @Test
    void droppedChannelsEqualTheirZeroMaskedTwins() {
        twin(Fixtures.tinyOpt(), new StructuralEdit().dropChannels(3, List.of(0, 7, 700)),
                m -> zeroChannels(m, 3, 0, 7, 700));
        twin(Fixtures.tinyLlama(), new StructuralEdit().dropChannels(0, List.of(3, 4, 5)),
                m -> zeroChannels(m, 0, 3, 4, 5));
        twin(gqa(), new StructuralEdit().dropChannels(2, List.of(39)), m -> zeroChannels(m, 2, 39));
    }

    @Test
    void droppedBlocksEqualBlocksWithoutOutput() {
        twin(Fixtures.tinyOpt(), new StructuralEdit().dropBlocks(List.of(1, 2)), m -> zeroBlockOutputs(m, 1, 2));
        twin(Fixtures.tinyLlama(), new StructuralEdit().dropBlocks(List.of(0)), m -> zeroBlockOutputs(m, 0));
        twin(gqa(), new StructuralEdit().dropBlocks(List.of(2)), m -> zeroBlockOutputs(m, 2));
    }

    /**
     * Logits of the edited model against (1) the live model with the structure's outputs zeroed, and (2) that
     * zeroed model edited in turn; fp64, to 1e-9.
     */
    private static void twin(Path dir, StructuralEdit edit, Consumer<Transformer> zero) {
        try (Checkpoint checkpoint = Checkpoint.open(dir)) {
            TokenBatch tokens = tokens(checkpoint.config().vocabSize());
            INDArray masked;
            INDArray maskedThenDropped;
            try (Transformer twin = Transformer.load(checkpoint, DataType.DOUBLE)) {
                zero.accept(twin);
                masked = twin.logits(tokens);
                try (Transformer dropped = edit.applyTo(twin)) {
                    maskedThenDropped = dropped.logits(tokens);
                }
            }
            Transformer live = Transformer.load(checkpoint, DataType.DOUBLE);
            INDArray before = live.logits(tokens);
            try (Transformer dropped = edit.applyTo(live)) {
                INDArray after = dropped.logits(tokens);
                assertTrue(after.sub(before).amaxNumber().doubleValue() > 1e-6, "the edit removed something live");
                assertClose(masked, after);
                assertClose(masked, maskedThenDropped);
                assertTrue(dropped.parameterCount() < Transformer.load(checkpoint, DataType.DOUBLE).parameterCount());
            }
        }
    }

    private static void assertClose(INDArray want, INDArray got) {
        double scale = want.amaxNumber().doubleValue();
        assertTrue(want.sub(got).amaxNumber().doubleValue() <= 1e-9 * scale,
                "logits differ by " + want.sub(got).amaxNumber());
    }

    private static TokenBatch tokens(int vocab) {
        return new TokenBatch(2, 12, new SplittableRandom(3).ints(24, 0, vocab).toArray());
    }

    private static INDArray weight(Transformer m, int block, LinearRole role) {
        return m.parameters().get(m.names().linear(block, role) + ".weight");
    }

    private static INDArray bias(Transformer m, int block, LinearRole role) {
        return m.parameters().get(m.names().linear(block, role) + ".bias");
    }

    private static void zeroHeadOutputs(Transformer m, int block, int... heads) {
        int d = m.layout().block(block).headDim();
        for (int h : heads) {
            weight(m, block, LinearRole.O).get(all(), interval(h * d, h * d + d)).assign(0);
        }
    }

    private static void zeroChannels(Transformer m, int block, long... channels) {
        for (long c : channels) {
            weight(m, block, LinearRole.DOWN).get(all(), interval(c, c + 1)).assign(0);
        }
    }

    private static void zeroBlockOutputs(Transformer m, int... blocks) {
        for (int block : blocks) {
            for (LinearRole role : List.of(LinearRole.O, LinearRole.DOWN)) {
                weight(m, block, role).assign(0);
                if (bias(m, block, role) != null) {
                    bias(m, block, role).assign(0);
                }
            }
        }
    }

    @Test
    void denseExportComputesWhatTheShrunkModelComputes() {
        try (Checkpoint checkpoint = Checkpoint.open(gqa())) {
            TokenBatch tokens = tokens(checkpoint.config().vocabSize());
            Transformer shrunk = new StructuralEdit().dropKvHeads(0, List.of(1)).dropChannels(0, List.of(0, 5, 39))
                    .dropChannels(2, List.of(7)).applyTo(Transformer.load(checkpoint, DataType.DOUBLE));
            INDArray want = shrunk.logits(tokens);
            int[] all40 = java.util.stream.IntStream.range(0, 40).toArray();
            int[] channels0 = java.util.stream.IntStream.range(0, 40).filter(c -> c != 0 && c != 5 && c != 39).toArray();
            int[] channels2 = java.util.stream.IntStream.range(0, 40).filter(c -> c != 7).toArray();
            int[] all6 = java.util.stream.IntStream.range(0, 6).toArray();
            try (Transformer dense = DenseExport.restore(shrunk, checkpoint.layout(),
                    List.of(new int[] {0, 1, 2}, all6, all6), List.of(new int[] {0}, new int[] {0, 1}, new int[] {0, 1}),
                    List.of(channels0, all40, channels2))) {
                assertEquals(checkpoint.layout(), dense.layout());
                assertClose(want, dense.logits(tokens));
                INDArray q = weight(dense, 0, LinearRole.Q);
                assertEquals(0.0, q.get(interval(24, 48), all()).amaxNumber().doubleValue(), "KV group 1's query rows");
                assertEquals(0.0, weight(dense, 2, LinearRole.DOWN).get(all(), interval(7, 8)).amaxNumber().doubleValue());
            }
        }
    }

    @Test
    void maskZeroesExactlyTheMaskedWeights() {
        try (Checkpoint checkpoint = Checkpoint.open(Fixtures.tinyLlama());
             Transformer masked = Transformer.load(checkpoint, DataType.DOUBLE);
             Transformer byHand = Transformer.load(checkpoint, DataType.DOUBLE)) {
            String layer = checkpoint.names().linear(1, LinearRole.UP);
            INDArray keep = Nd4j.rand(DataType.DOUBLE, 512, 192).gt(0.5).castTo(DataType.FLOAT);
            masked.applyMask(layer, keep);
            INDArray w = byHand.parameters().get(layer + ".weight");
            for (int r = 0; r < 512; r++) {
                for (int c = 0; c < 192; c++) {
                    if (keep.getDouble(r, c) == 0) {
                        w.putScalar(r, c, 0.0);
                    }
                }
            }
            TokenBatch tokens = tokens(4096);
            assertEquals(0.0, masked.logits(tokens).sub(byHand.logits(tokens)).amaxNumber().doubleValue());
            assertThrows(IllegalArgumentException.class, () -> masked.applyMask(layer, keep.transpose()));
        }
    }

    @Test
    void shrunkModelSavesReloadsAndResavesByteIdentical() throws IOException {
        StructuralEdit edit = new StructuralEdit().dropHeads(0, List.of(1, 4)).dropChannels(1, List.of(5, 6))
                .dropBlocks(List.of(2)).dropKvHeads(1, List.of(1));
        Path first = tmp.resolve("first");
        Path second = tmp.resolve("second");
        ModelLayout layout;
        INDArray logits;
        long parameters;
        try (Checkpoint source = Checkpoint.open(gqa())) {
            TokenBatch tokens = tokens(source.config().vocabSize());
            try (Transformer edited = edit.applyTo(Transformer.load(source, DataType.FLOAT))) {
                layout = edited.layout();
                logits = edited.logits(tokens);
                parameters = edited.parameterCount();
                CheckpointWriter.save(edited, source, first);
            }
        }
        assertEquals(2, layout.numBlocks());
        assertEquals(List.of(4, 3), layout.blocks().stream().map(BlockLayout::heads).toList());
        assertEquals(List.of(2, 1), layout.blocks().stream().map(BlockLayout::kvHeads).toList());
        assertEquals(List.of(40, 38), layout.blocks().stream().map(BlockLayout::intermediate).toList());
        try (Checkpoint reloaded = Checkpoint.open(first)) {
            assertEquals(layout, reloaded.layout());
            assertEquals(2, reloaded.configJson().get("num_hidden_layers").asInt());
            assertEquals(8, reloaded.configJson().get("head_dim").asInt());
            assertEquals(parameters, tensorElements(first.resolve(Checkpoint.WEIGHTS)));
            try (Transformer model = Transformer.load(reloaded, layout, DataType.FLOAT)) {
                assertEquals(0.0, logits.sub(model.logits(tokens(reloaded.config().vocabSize()))).amaxNumber().doubleValue());
                CheckpointWriter.save(model, reloaded, second);
            }
        }
        assertArrayEquals(Files.readAllBytes(first.resolve(Checkpoint.WEIGHTS)),
                Files.readAllBytes(second.resolve(Checkpoint.WEIGHTS)));
        assertArrayEquals(Files.readAllBytes(first.resolve(Checkpoint.CONFIG)),
                Files.readAllBytes(second.resolve(Checkpoint.CONFIG)));
        // the edited model still trains: its backward matches finite differences at the new shapes
        GradientCheckTest.check(first, 97);
    }

    @Test
    void uniformEditsKeepStockKeysOnly() {
        Path out = tmp.resolve("uniform");
        try (Checkpoint source = Checkpoint.open(Fixtures.tinyLlama())) {
            StructuralEdit edit = new StructuralEdit();
            for (int b = 0; b < 4; b++) {
                edit.dropHeads(b, List.of(0)).dropChannels(b, List.of(1));
            }
            try (Transformer edited = edit.applyTo(Transformer.load(source, DataType.FLOAT))) {
                CheckpointWriter.save(edited, source, out);
            }
        }
        try (Checkpoint reloaded = Checkpoint.open(out)) {
            assertEquals(5, reloaded.configJson().get("num_attention_heads").asInt());
            assertEquals(5, reloaded.configJson().get("num_key_value_heads").asInt());
            assertEquals(511, reloaded.configJson().get("intermediate_size").asInt());
            assertEquals(32, reloaded.configJson().get("head_dim").asInt());
            assertTrue(reloaded.configJson().path("lancet").isMissingNode());
        }
    }

    @Test
    void editsThatWouldBreakABlockAreRefusedBeforeAnythingChanges() {
        try (Checkpoint source = Checkpoint.open(gqa())) {
            ModelConfig c = source.config();
            TensorNames n = source.names();
            ModelLayout layout = source.layout();
            Map<String, StructuralEdit> bad = Map.of(
                    "block 3 is out of range", new StructuralEdit().dropBlocks(List.of(3)),
                    "head 6 is out of range", new StructuralEdit().dropHeads(0, List.of(6)),
                    "KV head 2 is out of range", new StructuralEdit().dropKvHeads(0, List.of(2)),
                    "channel 40 is out of range", new StructuralEdit().dropChannels(1, List.of(40)),
                    "uneven query-head removal", new StructuralEdit().dropHeads(0, List.of(0, 1)),
                    "drops every head of block 0", new StructuralEdit().dropKvHeads(0, List.of(0, 1)),
                    "drops every head of block 1", new StructuralEdit().dropHeads(1, List.of(0, 1, 2, 3, 4, 5)),
                    "drops every MLP channel of block 2", new StructuralEdit().dropChannels(2,
                            LongStream.range(0, 40).mapToObj(i -> (int) i).toList()),
                    "cannot drop every block", new StructuralEdit().dropBlocks(List.of(0, 1, 2)));
            bad.forEach((message, edit) -> {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> edit.check(c, n, layout));
                assertTrue(e.getMessage().contains(message), e.getMessage() + " should say " + message);
            });
        }
    }

    private static long tensorElements(Path file) {
        try (SafetensorsFile weights = SafetensorsFile.open(file)) {
            return weights.tensors().stream().map(TensorInfo::shape).mapToLong(s -> Arrays.stream(s).reduce(1, (a, b) -> a * b))
                    .sum();
        }
    }
}
