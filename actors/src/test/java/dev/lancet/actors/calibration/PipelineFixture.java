package dev.lancet.actors.calibration;

import com.typesafe.config.ConfigFactory;
import dev.lancet.actors.TestKits;
import dev.lancet.engine.Fixtures;
import dev.lancet.engine.model.Checkpoint;
import dev.lancet.engine.text.CalibrationSource;
import dev.lancet.engine.text.CalibrationSource.Sampling;
import dev.lancet.engine.text.Tokenizer;
import java.util.List;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;

/**
 * What the pipeline tests run on: tiny-opt, 9 random calibration windows of 24 tokens, and two test kits, one
 * serializing every message through its protobuf form, one passing tensors by reference (freed by their receivers).
 */
final class PipelineFixture implements AutoCloseable {

    final ActorTestKit serializing = TestKits.serializing();
    final ActorTestKit local = ActorTestKit.create(ConfigFactory.load());
    final Checkpoint checkpoint = Checkpoint.open(Fixtures.tinyOpt());
    final CalibrationSource source;

    PipelineFixture() {
        try (Tokenizer tokenizer = Tokenizer.load(checkpoint.tokenizerFile())) {
            source = CalibrationSource.of(tokenizer, List.of(Fixtures.calibrationText()), 9, 24, Sampling.RANDOM, 5);
        }
    }

    ActorTestKit kit(boolean serializingMessages) {
        return serializingMessages ? serializing : local;
    }

    @Override
    public void close() {
        serializing.shutdownTestKit();
        local.shutdownTestKit();
        checkpoint.close();
    }
}
