package dev.lancet.actors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lancet.actors.calibration.BlockSums;
import dev.lancet.actors.calibration.BlockSums.LayerSums;
import dev.lancet.actors.calibration.CalibrationCoordinator;
import dev.lancet.actors.calibration.CurvatureActor;
import dev.lancet.actors.calibration.GradientWorker;
import dev.lancet.actors.calibration.LayerActor;
import dev.lancet.actors.prune.PruneCoordinator;
import dev.lancet.actors.prune.PruneWorker;
import dev.lancet.daemon.JobQueue;
import dev.lancet.engine.curvature.KfacFactor;
import dev.lancet.engine.curvature.Precision;
import dev.lancet.engine.prune.UnitReport;
import dev.lancet.proto.BatchComputed;
import dev.lancet.proto.ShotFiles;
import dev.lancet.proto.BatchFolded;
import dev.lancet.proto.BlockHandedOver;
import dev.lancet.proto.BlockRecovered;
import dev.lancet.proto.CalibrationProgress;
import dev.lancet.proto.daemon.JobList;
import dev.lancet.proto.daemon.JobState;
import dev.lancet.proto.daemon.JobStatus;
import dev.lancet.proto.daemon.PruneRequest;
import dev.lancet.proto.daemon.QueueAnswer;
import dev.lancet.proto.daemon.Refusal;
import dev.lancet.proto.daemon.StoredJob;
import java.io.NotSerializableException;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.apache.pekko.actor.ExtendedActorSystem;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.typed.ActorRefResolver;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.serialization.Serialization;
import org.apache.pekko.serialization.SerializationExtension;
import org.apache.pekko.serialization.Serializers;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Every wire message has a manifest of its own and a reader, is bound to the protobuf serializer and reads back
 * equal; every other message of an actor protocol is private and never serialized. Messages are found in the
 * module's compiled classes, so a new one cannot be forgotten here.
 */
class ProtoSerializerTest {

    private static final ActorTestKit testKit = TestKits.serializing();

    @AfterAll
    static void tearDown() {
        testKit.shutdownTestKit();
    }

    @Test
    void everyWireMessageRoundTrips() throws Exception {
        Serialization serialization = SerializationExtension.get(Adapter.toClassic(testKit.system()));
        var layer = testKit.<LayerActor.Command>createTestProbe().getRef();
        var curvature = testKit.<CurvatureActor.Command>createTestProbe().getRef();
        var coordinator = testKit.<CalibrationCoordinator.Command>createTestProbe().getRef();
        var collected = testKit.<CurvatureActor.Collected>createTestProbe().getRef();
        KfacFactor factor = KfacFactor.fromSums("l", true, Nd4j.createFromArray(new double[][] {{2, 1}, {1, 3}}),
                Nd4j.createFromArray(new double[][] {{4}}), 6);
        BlockSums sums = new BlockSums(2, 5, List.of(new LayerSums(factor, new TreeSet<>(List.of(1L, 3L)))));
        // a forward-only factor (a second moment, no G) travels without sum_g
        KfacFactor moment = KfacFactor.fromSums("s", false, Nd4j.createFromArray(new double[][] {{2, 1}, {1, 3}}), null, 4);
        BlockSums momentSums = new BlockSums(0, 1, List.of(new LayerSums(moment, new TreeSet<>(List.of(0L)))));
        var solved = testKit.<PruneCoordinator.Solved>createTestProbe().getRef();
        var pruneCoordinator = testKit.<PruneCoordinator.Command>createTestProbe().getRef();
        UnitReport report = new UnitReport(2, List.of(new UnitReport.LayerRemoval("q", 1, 2, 30)), List.of(1),
                List.of(), List.of(4, 5));
        var answers = testKit.<JobQueue.Answer>createTestProbe().getRef();
        var assignment = new PruneWorker.Assignment(1, List.of(1, 3), ShotFiles.newBuilder().setKey("job/shot-2")
                .setCheckpoint("out/shot-1").setFactors("f.safetensors").setMethod("SURGEON").setDampingG(0.01).build());
        List<WireMessage> messages = List.of(
                new LayerActor.Fold(3, "l", Nd4j.createFromArray(new float[][] {{1, 2}}), Nd4j.createFromArray(new float[][] {{-1}})),
                new LayerActor.Fold(3, "s", Nd4j.createFromArray(new double[][] {{1, 2}}), null),
                new LayerActor.Snapshot(4, true, curvature),
                new LayerActor.Restored(sums),
                new LayerActor.Wake(),
                LayerActor.ToEntity.of(new LayerActor.Run(2, List.of(factor.shape(), moment.shape()), Precision.FP32,
                        curvature, coordinator), new LayerActor.Fold(3, "l", Nd4j.createFromArray(new float[][] {{1, 2}}),
                        Nd4j.createFromArray(new float[][] {{-1}})), ActorRefResolver.get(testKit.system())),
                new CurvatureActor.BlockState(sums),
                new CurvatureActor.BlockState(momentSums),
                new CurvatureActor.Restore(1, layer),
                new CurvatureActor.Collect(7, 2, 12, collected),
                new CurvatureActor.Collected(sums),
                new GradientWorker.Compute(9, coordinator),
                new CalibrationCoordinator.Start(collected),
                new CalibrationCoordinator.Computed(BatchComputed.newBuilder().setBatch(1).setLoss(2.5).build()),
                new CalibrationCoordinator.Folded(BatchFolded.newBuilder().setBlock(1).setBatch(2).build()),
                new CalibrationCoordinator.Recovered(BlockRecovered.newBuilder().setBlock(1).addBatches(4).build()),
                new CalibrationCoordinator.HandedOver(BlockHandedOver.newBuilder().setBlock(1).setRound(3).build()),
                new CalibrationCoordinator.Progress(CalibrationProgress.newBuilder().setBatchesDone(1).build()),
                new PruneCoordinator.Solve(1234, solved),
                new PruneCoordinator.Opened(1),
                new PruneCoordinator.Counted(3, 1, 40),
                new PruneCoordinator.Failed(2, "out of memory"),
                new PruneCoordinator.Applied(1, List.of(report)),
                new PruneCoordinator.Solved(0.125, List.of(report, UnitReport.dense(0, List.of())), ""),
                new PruneWorker.Open(assignment, pruneCoordinator),
                new PruneWorker.Count(2, 0.5, assignment, pruneCoordinator),
                new PruneWorker.Apply(0.5, assignment, pruneCoordinator),
                new PruneWorker.Release(assignment),
                new JobQueue.Submit(StoredJob.newBuilder().setId("job-3").setRequest(PruneRequest.newBuilder()
                        .setMethod("slicegpt").setTarget(0.25)).build(), answers),
                new JobQueue.Get("job-3", answers),
                new JobQueue.Cancel("job-4", answers),
                new JobQueue.ListJobs(answers),
                new JobQueue.Answer(QueueAnswer.newBuilder().setStatus(JobStatus.newBuilder().setJob("job-3")
                        .setState(JobState.RUNNING).setShotsDone(2)).build()),
                new JobQueue.Answer(QueueAnswer.newBuilder().setJobs(JobList.newBuilder()
                        .addJobs(JobStatus.newBuilder().setJob("job-1"))).build()),
                new JobQueue.Answer(QueueAnswer.newBuilder().setRefused(Refusal.newBuilder()
                        .setCode("RESOURCE_EXHAUSTED").setDescription("the queue is full")).build()));
        assertEquals(concreteClassesOf(WireMessage.class), messages.stream().map(Object::getClass).collect(Collectors.toSet()),
                "one sample of every wire message");
        ActorRefResolver resolver = ActorRefResolver.get(testKit.system());
        for (WireMessage message : messages) {
            var serializer = serialization.findSerializerFor(message);
            assertTrue(serializer instanceof ProtoSerializer, message.getClass().getName());
            byte[] bytes = serialization.serialize(message).get();
            Object back = serialization.deserialize(bytes, serializer.identifier(), Serializers.manifestFor(serializer, message)).get();
            assertEquals(message.getClass(), back.getClass());
            // the wire form carries everything: reading it back and writing it again gives the same message
            assertEquals(message.toProto(resolver), ((WireMessage) back).toProto(resolver), message.getClass().getName());
        }
        sums.close();
        momentSums.close();
    }

    @Test
    void everyWireMessageHasAManifestOfItsOwnAndAReader() throws Exception {
        // (the serializer's class initialisation already refuses a manifest bound twice, naming it)
        Map<Class<? extends WireMessage>, String> manifests = ProtoSerializer.manifests();
        assertEquals(manifests.size(), Set.copyOf(manifests.values()).size(), "two messages share a manifest: " + manifests);
        assertEquals(concreteClassesOf(WireMessage.class), manifests.keySet(), "every wire message and only those is read back");
    }

    @Test
    void messagesArePrivateExactlyWhenTheyStayOffTheWire() throws Exception {
        Set<Class<?>> protocols = moduleClasses().stream()
                .filter(c -> c.isInterface() && c.isSealed() && c.getSimpleName().equals("Command"))
                .collect(Collectors.toSet());
        assertTrue(protocols.containsAll(List.of(CalibrationCoordinator.Command.class, JobQueue.Command.class)),
                protocols.toString());
        Set<Class<?>> local = concreteClassesOf(NoSerializationVerificationNeeded.class);
        assertFalse(local.isEmpty());
        for (Class<?> message : concreteClassesOf(Object.class)) {
            if (protocols.stream().noneMatch(p -> p.isAssignableFrom(message)) && !local.contains(message)) {
                continue;
            }
            boolean wire = WireMessage.class.isAssignableFrom(message);
            assertTrue(wire != local.contains(message), message + ": exactly one of a wire message and a local one (NoSerializationVerificationNeeded)");
            assertEquals(!wire, Modifier.isPrivate(message.getModifiers()), message + ": private exactly when local");
        }
    }

    @Test
    void unknownManifestIsRefused() {
        ProtoSerializer serializer = new ProtoSerializer((ExtendedActorSystem) Adapter.toClassic(testKit.system()));
        assertThrows(NotSerializableException.class, () -> serializer.fromBinary(new byte[0], "Nope"));
    }

    /** Concrete classes of the actors module assignable to {@code type}. */
    private static Set<Class<?>> concreteClassesOf(Class<?> type) throws Exception {
        return moduleClasses().stream()
                .filter(c -> type.isAssignableFrom(c) && !c.isInterface() && !Modifier.isAbstract(c.getModifiers()))
                .collect(Collectors.toSet());
    }

    /** Every class compiled from the actors module's main sources. */
    private static Set<Class<?>> moduleClasses() throws Exception {
        Path root = Path.of(WireMessage.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        try (Stream<Path> files = Files.walk(root)) {
            List<String> names = files.map(root::relativize).map(Path::toString).filter(f -> f.endsWith(".class"))
                    .map(f -> f.substring(0, f.length() - ".class".length()).replace('/', '.')).toList();
            Set<Class<?>> classes = new HashSet<>();
            for (String name : names) {
                classes.add(Class.forName(name, false, ProtoSerializerTest.class.getClassLoader()));
            }
            return classes;
        }
    }
}
