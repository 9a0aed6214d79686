package dev.lancet.engine.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lancet.engine.Fixtures;
import dev.lancet.engine.eval.Perplexity;
import dev.lancet.engine.io.DType;
import dev.lancet.engine.slicegpt.SliceGpt;
import dev.lancet.engine.slicegpt.SliceWidth;
import dev.lancet.engine.text.TextFiles;
import dev.lancet.engine.text.Tokenizer;
import dev.lancet.engine.text.Windows;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * Fused and sliced models as checkpoints: invariance of fusion and of rotation without slicing (fp64), the saved
 * model reloading to the same perplexity, its backward against finite differences, and the bad inputs.
 */
class SlicedModelTest {

    private static final int VOCAB = 97;

    @TempDir
    Path tmp;

    @Test
    void fusionAloneKeepsTinyOpt() {
        assertFusionKeepsPerplexity(Fixtures.tinyOpt());
    }

    @Test
    void fusionAloneKeepsTinyLlama() {
        assertFusionKeepsPerplexity(Fixtures.tinyLlama());
    }

    @Test
    void rotationWithoutSlicingKeepsTinyOpt() {
        assertRotationKeepsPerplexity(Fixtures.tinyOpt());
    }

    @Test
    void rotationWithoutSlicingKeepsTinyLlama() {
        assertRotationKeepsPerplexity(Fixtures.tinyLlama());
    }

    @Test
    void rotationWithoutSlicingKeepsGqaLlama() {
        assertRotationKeepsPerplexity(synthetic("llama", 4, 2, true, false, 21));
    }

    @Test
    void slicedGqaLlamaBackwardMatchesFiniteDifferences() {
        GradientCheckTest.check(sliceAndSave(synthetic("llama", 4, 2, true, true, 22), 24), VOCAB);
    }

    @Test
    void slicedOptBackwardMatchesFiniteDifferences() {
        GradientCheckTest.check(sliceAndSave(synthetic("opt", 4, 4, true, true, 23), 24), VOCAB);
    }

    @Test
    void slicedTinyLlamaReloadsToItsPerplexity() {
        Path saved = tmp.resolve("sliced");
        double inMemory;
        try (Checkpoint source = Checkpoint.open(Fixtures.tinyLlama());
             Transformer sliced = SliceGpt.slice(Transformer.load(source, DataType.DOUBLE), calibration(source, 16),
                     new SliceGpt.Settings(144, false), done -> { })) {
            inMemory = Perplexity.evaluate(sliced, evalWindows(source), 8).perplexity();
            CheckpointWriter.save(sliced, source, saved, DType.F32);
            assertEquals(144, sliced.layout().embeddingWidth());
            assertEquals(192, sliced.layout().headWidth());
        }
        try (Checkpoint reloaded = Checkpoint.open(saved);
             Transformer model = Transformer.load(reloaded, DataType.DOUBLE)) {
            assertTrue(reloaded.layout().fused());
            double again = Perplexity.evaluate(model, evalWindows(reloaded), 8).perplexity();
            // the saved weights are the fp64 ones rounded to fp32
            assertEquals(inMemory, again, 1e-6 * inMemory);
            // parameters: every shortcut counted, none of the dense norms left
            long shortcuts = reloaded.layout().blocks().stream().mapToLong(BlockLayout::shortcutParameters).sum();
            assertTrue(shortcuts > 0);
            assertEquals(model.parameters().keySet().stream().filter(n -> n.contains("shortcut")).count(),
                    2L * reloaded.layout().numBlocks());
        }
    }

    @Test
    void perplexityRisesWithTheSlicedFraction() {
        try (Checkpoint source = Checkpoint.open(Fixtures.tinyLlama())) {
            Windows eval = evalWindows(source);
            double previous;
            try (Transformer dense = Transformer.load(source, DataType.FLOAT)) {
                previous = Perplexity.evaluate(dense, eval, 8).perplexity();
            }
            for (double target : new double[] {0.10, 0.20, 0.25, 0.30}) {
                int k = SliceWidth.of(target, 192);
                try (Transformer sliced = SliceGpt.slice(Transformer.load(source, DataType.DOUBLE),
                        calibration(source, 16), new SliceGpt.Settings(k, false), done -> { })) {
                    double perplexity = Perplexity.evaluate(sliced, eval, 8).perplexity();
                    assertTrue(perplexity > previous, target + ": " + perplexity + " after " + previous);
                    previous = perplexity;
                }
            }
        }
    }

    @Test
    void refusesPostNormSlicingPastWidthAndDroppingSlicedBlocks() {
        Path postNorm = tmp.resolve("post");
        SyntheticCheckpoint.write(new SyntheticCheckpoint.Spec("opt", VOCAB, 32, 32, 2, 4, 4, 40, 64, true, true, true,
                DType.F32, 0.2, 5), postNorm);
        try (Checkpoint c = Checkpoint.open(postNorm); Transformer m = Transformer.load(c, DataType.DOUBLE)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> SliceGpt.slice(m, List.of(), new SliceGpt.Settings(16, false), done -> { }));
            assertTrue(e.getMessage().contains("post-norm"), e.getMessage());
        }
        Path sliced = sliceAndSave(synthetic("llama", 4, 2, false, false, 24), 24);
        try (Checkpoint c = Checkpoint.open(sliced); Transformer m = Transformer.load(c, DataType.DOUBLE)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> SliceGpt.slice(m, List.of(), new SliceGpt.Settings(32, false), done -> { }));
            assertTrue(e.getMessage().contains("already sliced to a width of 24"), e.getMessage());
            assertThrows(IllegalArgumentException.class,
                    () -> new StructuralEdit().dropBlocks(List.of(0)).check(c.config(), c.names(), c.layout()));
        }
    }

    private void assertFusionKeepsPerplexity(Path dir) {
        try (Checkpoint c = Checkpoint.open(dir)) {
            Windows eval = evalWindows(c);
            Transformer model = Transformer.load(c, DataType.DOUBLE);
            double dense = Perplexity.evaluate(model, eval, 8).perplexity();
            try (Transformer fused = NormFusion.fuse(model)) {
                assertTrue(fused.layout().fused());
                assertEquals(dense, Perplexity.evaluate(fused, eval, 8).perplexity(), 1e-10 * dense);
            }
        }
    }

    private void assertRotationKeepsPerplexity(Path dir) {
        try (Checkpoint c = Checkpoint.open(dir)) {
            Windows eval = evalWindows(c);
            Transformer model = Transformer.load(c, DataType.DOUBLE);
            double dense = Perplexity.evaluate(model, eval, 8).perplexity();
            int hidden = c.config().hiddenSize();
            try (Transformer rotated = SliceGpt.slice(model, calibration(c, 4), new SliceGpt.Settings(hidden, true),
                    done -> { })) {
                assertEquals(hidden, rotated.layout().embeddingWidth());
                assertEquals(dense, Perplexity.evaluate(rotated, eval, 8).perplexity(), 1e-9 * dense);
            }
        }
    }

    /** Slices a model to width k with a few calibration windows and saves it in fp64-exact F32 form. */
    private Path sliceAndSave(Path dir, int k) {
        Path out = tmp.resolve(dir.getFileName() + "-sliced-" + k);
        try (Checkpoint c = Checkpoint.open(dir);
             Transformer sliced = SliceGpt.slice(Transformer.load(c, DataType.DOUBLE), calibration(c, 4),
                     new SliceGpt.Settings(k, false), done -> { })) {
            CheckpointWriter.save(sliced, c, out, DType.F32);
        }
        return out;
    }

    /** A synthetic 32-wide model of {@link #VOCAB} tokens and 2 blocks; OPT ones pre-norm. */
    private Path synthetic(String arch, int heads, int kvHeads, boolean bias, boolean tied, long seed) {
        Path dir = tmp.resolve(arch + "-" + seed);
        SyntheticCheckpoint.write(new SyntheticCheckpoint.Spec(arch, VOCAB, 32, 32, 2, heads, kvHeads, 40, 64, bias,
                tied, false, DType.F32, 0.2, seed), dir);
        return dir;
    }

    /** Brown calibration windows of 128 for the shipped models; random tokens for the synthetic ones. */
    private static List<TokenBatch> calibration(Checkpoint c, int windows) {
        return windows(c, Fixtures.calibrationText(), windows).batches(4);
    }

    private static Windows evalWindows(Checkpoint c) {
        return windows(c, Fixtures.validText(), 16);
    }

    private static Windows windows(Checkpoint c, Path text, int count) {
        if (!Files.exists(c.tokenizerFile())) {
            int seq = Math.min(32, c.config().maxPositions());
            SplittableRandom random = new SplittableRandom(count);
            return new Windows(random.ints((long) count * seq, 0, c.config().vocabSize()).toArray(), seq, count);
        }
        try (Tokenizer tokenizer = Tokenizer.load(c.tokenizerFile())) {
            return Windows.of(tokenizer.encode(TextFiles.readUtf8(text)), 128, count);
        }
    }
}
