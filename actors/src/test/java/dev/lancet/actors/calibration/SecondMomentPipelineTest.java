package dev.lancet.actors.calibration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lancet.engine.curvature.Precision;
import dev.lancet.engine.model.Checkpoint;
import dev.lancet.engine.model.ResidualRotation;
import dev.lancet.engine.model.TokenBatch;
import dev.lancet.engine.model.Transformer;
import dev.lancet.engine.slicegpt.Place;
import dev.lancet.engine.slicegpt.SecondMoments;
import dev.lancet.engine.slicegpt.SliceGpt;
import dev.lancet.engine.text.CalibrationSource;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorRefResolver;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * SliceGPT's second moments through the calibration pipeline (forward-only factors, with every message serialized
 * through its protobuf form, and passed by reference) against a direct fp64 GEMM loop over the same signals: the
 * same Σ xᵀx to 1e-10 relative at every kind of place, through partly rotated and sliced upstream blocks, also when
 * the layer actor crashes mid-stream and replays from its snapshot; and the same sliced model either way.
 */
class SecondMomentPipelineTest {

    private static final int WIDTH = 144;

    private static final AtomicInteger runs = new AtomicInteger();
    private static PipelineFixture fixture;
    private static Checkpoint checkpoint;
    private static CalibrationSource source;

    @BeforeAll
    static void setUp() {
        fixture = new PipelineFixture();
        checkpoint = fixture.checkpoint;
        source = fixture.source;
    }

    @AfterAll
    static void tearDown() {
        fixture.close();
    }

    /** Batches of 2 windows (the last one of 1), one in flight, a snapshot every 2 batches. */
    private static CalibrationCoordinator.Settings settings() {
        return new CalibrationCoordinator.Settings(2, 1, 2, Precision.FP64, 1);
    }

    private static SecondMoments direct() {
        List<TokenBatch> batches = new ArrayList<>();
        for (int b = 0; b < source.batches(2); b++) {
            batches.add(source.batch(b, 2));
        }
        return SecondMoments.direct(batches);
    }

    private static ActorRef<CalibrationCoordinator.Command> spawn(ActorTestKit kit, ResidualRotation model, Place place,
                                                                   ActorRef<CalibrationCoordinator.Progress> progress) {
        return CalibrationPipeline.spawn(kit.system(), "moments-" + runs.incrementAndGet(),
                CalibrationWork.secondMoment(model, place), CalibrationCoordinator.Layers.local(), source, settings(), SnapshotStore.inMemory(), null, progress);
    }

    private static SecondMoments pipeline(ActorTestKit kit) {
        return (model, place) -> await(kit, spawn(kit, model, place, null));
    }

    private static INDArray await(ActorTestKit kit, ActorRef<CalibrationCoordinator.Command> run) {
        try {
            return CalibrationPipeline.secondMoment(kit.system(), run).toCompletableFuture().get(5, TimeUnit.MINUTES);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private static double relativeDifference(INDArray expected, INDArray actual) {
        return Transforms.abs(actual.sub(expected)).maxNumber().doubleValue()
                / Transforms.abs(expected).maxNumber().doubleValue();
    }

    /** Each place's moments from both, the model sliced place by place on the direct ones in between. */
    @ParameterizedTest(name = "serialize-messages {0}")
    @ValueSource(booleans = {true, false})
    void pipelineMatchesDirectSumsThroughSlicedUpstreamBlocks(boolean serializing) {
        ActorTestKit kit = fixture.kit(serializing);
        SecondMoments direct = direct();
        SecondMoments pipeline = pipeline(kit);
        List<Place> compared = new ArrayList<>();
        SecondMoments both = (model, place) -> {
            INDArray expected = direct.of(model, place);
            INDArray actual = pipeline.of(model, place);
            assertEquals(place.width(model), actual.columns());
            double difference = relativeDifference(expected, actual);
            assertTrue(difference < 1e-10, place + ": relative difference " + difference);
            compared.add(place);
            actual.close();
            return expected;
        };
        SliceGpt.slice(Transformer.load(checkpoint, DataType.DOUBLE), new SliceGpt.Settings(WIDTH, false), both,
                List.of(), (done, bases) -> { }).close();
        assertEquals(1 + 2 * checkpoint.layout().numBlocks(), compared.size());
    }

    /** At block 1's middle (upstream rotated and sliced), the layer actor fails after 3 of 5 batches. */
    @ParameterizedTest(name = "serialize-messages {0}")
    @ValueSource(booleans = {true, false})
    void crashedLayerActorResumesWithoutLosingOrDoubleCounting(boolean serializing) {
        ActorTestKit kit = fixture.kit(serializing);
        SecondMoments direct = direct();
        Place crashed = Place.middle(1);
        List<Double> differences = new ArrayList<>();
        SecondMoments crashing = (model, place) -> {
            INDArray expected = direct.of(model, place);
            if (place.equals(crashed)) {
                INDArray actual = crashMidStream(kit, model, place);
                differences.add(relativeDifference(expected, actual));
                actual.close();
            }
            return expected;
        };
        SliceGpt.slice(Transformer.load(checkpoint, DataType.DOUBLE), new SliceGpt.Settings(WIDTH, false), crashing,
                List.of(), (done, bases) -> { }).close();
        assertEquals(1, differences.size());
        assertTrue(differences.get(0) < 1e-10, "relative difference " + differences.get(0));
    }

    private static INDArray crashMidStream(ActorTestKit kit, ResidualRotation model, Place place) {
        TestProbe<CalibrationCoordinator.Progress> progress = kit.createTestProbe();
        ActorRef<CalibrationCoordinator.Command> run = spawn(kit, model, place, progress.getRef());
        var result = CalibrationPipeline.secondMoment(kit.system(), run);
        // a snapshot was taken at 2 batches
        while (progress.receiveMessage(Duration.ofMinutes(2)).progress().getBatchesDone() < 3) {
            // keep reading progress
        }
        ActorRef<LayerActor.Command> layer = ActorRefResolver.get(kit.system())
                .resolveActorRef(run.path().child("layer-0").toString());
        layer.tell(new LayerActor.Fold(99, "no.such.signal", Nd4j.zeros(DataType.DOUBLE, 1, 1), null));
        try {
            return result.toCompletableFuture().get(5, TimeUnit.MINUTES);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    @Test
    void slicedModelIsTheSameWithEitherMoments() {
        try (Transformer viaDirect = SliceGpt.slice(Transformer.load(checkpoint, DataType.DOUBLE),
                new SliceGpt.Settings(WIDTH, false), direct(), List.of(), (done, bases) -> { });
             Transformer viaPipeline = SliceGpt.slice(Transformer.load(checkpoint, DataType.DOUBLE),
                     new SliceGpt.Settings(WIDTH, false), pipeline(fixture.local), List.of(),
                     (done, bases) -> { })) {
            Map<String, INDArray> expected = viaDirect.parameters();
            Map<String, INDArray> actual = viaPipeline.parameters();
            assertEquals(expected.keySet(), actual.keySet());
            expected.forEach((name, weights) -> {
                double difference = relativeDifference(weights, actual.get(name));
                assertTrue(difference < 1e-9, name + ": relative difference " + difference);
            });
        }
    }
}
