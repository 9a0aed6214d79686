package dev.lancet.engine.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.JsonNode;
import dev.lancet.engine.DerivedModel;
import dev.lancet.engine.Fixtures;
import dev.lancet.engine.eval.Perplexity;
import dev.lancet.engine.text.TextFiles;
import dev.lancet.engine.text.Tokenizer;
import dev.lancet.engine.text.Windows;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * Perplexity of the valid split (whole, or its first windows) against the fp64 PyTorch reference, in fp32: the
 * shipped models and the checkpoints derived from them for the other families.
 */
class PerplexityReferenceTest {

    static Stream<Arguments> cases() {
        return Stream.concat(Stream.of(
                Arguments.of(Fixtures.tinyLlama(), "valid_ppl_128", 128, 0),
                Arguments.of(Fixtures.tinyLlama(), "valid_ppl_256_first64", 256, 64),
                Arguments.of(Fixtures.tinyOpt(), "valid_ppl_128", 128, 0),
                Arguments.of(Fixtures.tinyOpt(), "valid_ppl_256_first64", 256, 64)),
                Stream.of(DerivedModel.values()).map(m -> Arguments.of(m.dir(), "valid_ppl_128_first64", 128, 64)));
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void perplexityMatchesReference(Path modelDir, String key, int seq, int maxWindows) {
        JsonNode ref = Fixtures.reference(modelDir).get(key);
        try (Checkpoint checkpoint = Checkpoint.open(modelDir);
             Tokenizer tokenizer = Tokenizer.load(checkpoint.tokenizerFile())) {
            Windows windows = Windows.of(tokenizer.encode(TextFiles.readUtf8(Fixtures.validText())), seq, maxWindows);
            Loss loss = Perplexity.evaluate(Transformer.load(checkpoint, DataType.FLOAT), windows, 8);
            assertEquals(ref.get("windows").asInt(), windows.count());
            assertEquals(ref.get("tokens").asLong(), loss.tokens());
            assertEquals(ref.get("perplexity").asDouble(), loss.perplexity(), 1e-4 * ref.get("perplexity").asDouble());
        }
    }

    @Test
    void theRunningTotalsOfOnePassMeasureItsFirstWindows() {
        JsonNode ref = Fixtures.reference(Fixtures.tinyLlama()).get("valid_ppl_256_first64");
        try (Checkpoint checkpoint = Checkpoint.open(Fixtures.tinyLlama());
             Tokenizer tokenizer = Tokenizer.load(checkpoint.tokenizerFile());
             Transformer model = Transformer.load(checkpoint, DataType.FLOAT)) {
            int[] tokens = tokenizer.encode(TextFiles.readUtf8(Fixtures.validText()));
            List<Loss> totals = Perplexity.runningTotals(model, Windows.of(tokens, 256, 96), 8, done -> { });
            assertEquals(12, totals.size());
            Loss first64 = totals.get(7);
            assertEquals(ref.get("perplexity").asDouble(), first64.perplexity(), 1e-4 * ref.get("perplexity").asDouble());
            assertEquals(Perplexity.evaluate(model, Windows.of(tokens, 256, 64), 8), first64);
        }
    }

    /** Batches evaluated side by side on the evaluation threads sum to the bits of one loop on the calling thread. */
    @Test
    void batchesSideBySideGiveTheBitsOfOneLoop() {
        try (Checkpoint checkpoint = Checkpoint.open(Fixtures.tinyLlama());
             Tokenizer tokenizer = Tokenizer.load(checkpoint.tokenizerFile());
             Transformer model = Transformer.load(checkpoint, DataType.FLOAT)) {
            Windows windows = Windows.of(tokenizer.encode(TextFiles.readUtf8(Fixtures.validText())), 128, 40);
            List<Long> progress = new java.util.ArrayList<>();
            List<Loss> totals = Perplexity.runningTotals(model, windows, 8, progress::add);
            Loss loop = new Loss(0, 0);
            int k = 0;
            for (TokenBatch batch : windows.batches(8)) {
                loop = loop.plus(model.loss(batch));
                assertEquals(loop, totals.get(k++));
            }
            assertEquals(5, k);
            assertEquals(List.of(8L, 16L, 24L, 32L, 40L), progress);

            // a caller that gives up (its progress throws) gets its own exception, once no batch runs any more
            IllegalStateException stop = new IllegalStateException("stop");
            assertSame(stop, assertThrows(IllegalStateException.class,
                    () -> Perplexity.runningTotals(model, windows, 8, done -> {
                        throw stop;
                    })));
            assertEquals(totals, Perplexity.runningTotals(model, windows, 8, done -> { }));
        }
    }
}
