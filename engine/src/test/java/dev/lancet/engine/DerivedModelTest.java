package dev.lancet.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** The derived checkpoints are the files the reference figures were computed on, and each one differs from its base. */
class DerivedModelTest {

    @ParameterizedTest
    @EnumSource(DerivedModel.class)
    void filesAreThoseOfTheReference(DerivedModel model) throws IOException, NoSuchAlgorithmException {
        JsonNode sha = DerivedModel.reference().get(model.key()).get("sha256");
        for (String file : new String[] {"config.json", "model.safetensors"}) {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(model.dir().resolve(file)));
            assertEquals(sha.get(file).asText(), HexFormat.of().formatHex(digest),
                    file + " of " + model.key() + " changed: rerun " + DerivedModel.referenceFile().resolveSibling(
                            "make_reference.py"));
        }
    }

    /** Scaled RoPE bites at 128 tokens, the biases and post-norm change the model; a 128-token sliding window does not. */
    @ParameterizedTest
    @EnumSource(DerivedModel.class)
    void perplexityDiffersFromTheBaseExceptForAWindowThatFits(DerivedModel model) {
        JsonNode reference = DerivedModel.reference();
        JsonNode derived = reference.get(model.key());
        double perplexity = derived.get("valid_ppl_128_first64").get("perplexity").asDouble();
        double base = reference.get(derived.get("base").asText()).get("valid_ppl_128_first64").get("perplexity").asDouble();
        if (model == DerivedModel.MISTRAL) {
            assertEquals(base, perplexity, 1e-12 * base);
        } else {
            assertTrue(Math.abs(perplexity / base - 1) > 0.05, model.key() + ": " + perplexity + " vs base " + base);
        }
    }
}
