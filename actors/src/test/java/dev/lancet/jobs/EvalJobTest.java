package dev.lancet.jobs;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.lancet.engine.Fixtures;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** {@link EvalJob} without the CLI: the reference perplexity, its progress, and specs it refuses. */
class EvalJobTest {

    @Test
    void embeddedModelGivesTheReferencePerplexityReportingEveryBatch() {
        JsonNode ref = Fixtures.reference(Fixtures.tinyLlama()).get("valid_ppl_128");
        List<long[]> reports = new ArrayList<>();
        EvalJob.Result result = EvalJob.run(new EvalJob.Spec(Fixtures.tinyLlama(), Fixtures.validText(), 128, 0, 8, false),
                (phase, done, total) -> {
                    assertEquals(EvalJob.WINDOWS, phase);
                    reports.add(new long[] {done, total});
                });
        assertEquals(ref.get("perplexity").asDouble(), result.perplexity(), 1e-4 * ref.get("perplexity").asDouble());
        assertEquals(ref.get("tokens").asLong(), result.tokens());
        assertEquals(ref.get("windows").asInt(), result.windows());
        int windows = result.windows();
        assertArrayEquals(new long[] {0, windows}, reports.get(0), "the phase starts at 0");
        assertArrayEquals(new long[] {windows, windows}, reports.get(reports.size() - 1));
        assertEquals(1 + (windows + 7) / 8, reports.size(), "one report per batch of 8");
        for (int i = 1; i < reports.size(); i++) {
            assertTrue(reports.get(i)[0] > reports.get(i - 1)[0]);
        }
    }

    @Test
    void specsThatCannotRunAreRefusedBeforeAnyFileIsRead() {
        Path nowhere = Path.of("no/such/model");
        assertThrows(IllegalArgumentException.class, () -> new EvalJob.Spec(nowhere, nowhere, 1, 0, 8, false));
        assertThrows(IllegalArgumentException.class, () -> new EvalJob.Spec(nowhere, nowhere, 128, 0, 0, false));
        assertThrows(IllegalArgumentException.class, () -> new EvalJob.Spec(nowhere, nowhere, 128, -1, 8, false));
    }
}
