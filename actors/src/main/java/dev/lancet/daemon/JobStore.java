package dev.lancet.daemon;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.lancet.engine.io.AtomicFiles;
import dev.lancet.proto.daemon.JobStatus;
import dev.lancet.proto.daemon.StoredJob;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * The daemon's jobs on disk: {@code jobs/<id>/job.pb} (the job as accepted, never changed) and
 * {@code jobs/<id>/status.pb} (its last state), each written atomically. A job directory is made under a temporary
 * name and renamed whole, so after a crash a job is either fully accepted or not there at all.
 */
final class JobStore {

    /** The layout of a state directory this code reads and writes. */
    static final int FORMAT = 2;
    static final String FORMAT_FILE = "FORMAT";
    private static final String JOB = "job.pb";
    private static final String STATUS = "status.pb";
    private static final String PREFIX = "job-";

    private final Path jobs;

    private JobStore(Path jobs) {
        this.jobs = jobs;
    }

    /** Opens (creating if needed) the state directory, refusing one written in another format. */
    static JobStore open(Path state) throws IOException {
        Files.createDirectories(state);
        Path format = state.resolve(FORMAT_FILE);
        String expected = "lancet-daemon-state " + FORMAT + "\n";
        if (!Files.exists(format)) {
            AtomicFiles.write(format, expected.getBytes());
        } else if (!Files.readString(format).equals(expected)) {
            throw new IllegalArgumentException(state + ": a state directory of another format ("
                    + Files.readString(format).strip() + "); this daemon reads format " + FORMAT);
        }
        Path jobs = state.resolve("jobs");
        Files.createDirectories(jobs);
        removeTemporaries(jobs);
        return new JobStore(jobs);
    }

    private static void removeTemporaries(Path dir) throws IOException {
        try (Stream<Path> entries = Files.list(dir)) {
            for (Path p : (Iterable<Path>) entries::iterator) {
                if (p.getFileName().toString().startsWith(".")) {
                    AtomicFiles.deleteTree(p);
                }
            }
        }
    }

    /** The stored jobs with their last statuses, in the order they were accepted. */
    List<Loaded> load() throws IOException {
        List<Loaded> loaded = new ArrayList<>();
        try (Stream<Path> entries = Files.list(jobs)) {
            for (Path dir : (Iterable<Path>) entries.filter(p -> p.getFileName().toString().startsWith(PREFIX))
                    .sorted(Comparator.comparingLong(JobStore::number))::iterator) {
                loaded.add(new Loaded(StoredJob.parseFrom(Files.readAllBytes(dir.resolve(JOB))),
                        JobStatus.parseFrom(Files.readAllBytes(dir.resolve(STATUS)))));
            }
        } catch (InvalidProtocolBufferException e) {
            throw new IOException("a stored job is unreadable: " + e.getMessage(), e);
        }
        return loaded;
    }

    record Loaded(StoredJob job, JobStatus status) {
    }

    /** A stored job as accepted, if there is one by that id. */
    Optional<StoredJob> read(String id) {
        Path file = jobs.resolve(id).resolve(JOB);
        try {
            return Files.exists(file) ? Optional.of(StoredJob.parseFrom(Files.readAllBytes(file))) : Optional.empty();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The id the next accepted job gets: one past the highest stored. */
    long nextNumber() throws IOException {
        try (Stream<Path> entries = Files.list(jobs)) {
            return entries.filter(p -> p.getFileName().toString().startsWith(PREFIX)).mapToLong(JobStore::number)
                    .max().orElse(0) + 1;
        }
    }

    static String id(long number) {
        return PREFIX + number;
    }

    private static long number(Path dir) {
        return Long.parseLong(dir.getFileName().toString().substring(PREFIX.length()));
    }

    /** Stores a new job with its first status; once this returns the job survives any crash. */
    void create(StoredJob job, JobStatus status) {
        try {
            Path temp = jobs.resolve("." + job.getId());
            AtomicFiles.deleteTree(temp);
            Files.createDirectories(temp);
            AtomicFiles.write(temp.resolve(JOB), job.toByteArray());
            AtomicFiles.write(temp.resolve(STATUS), status.toByteArray());
            Files.move(temp, jobs.resolve(job.getId()), StandardCopyOption.ATOMIC_MOVE);
            try (FileChannel dir = FileChannel.open(jobs, StandardOpenOption.READ)) {
                dir.force(true);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Replaces a job's status. */
    void update(JobStatus status) {
        try {
            AtomicFiles.write(jobs.resolve(status.getJob()).resolve(STATUS), status.toByteArray());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A directory of the job's own, for what it writes when no --out was given. */
    Path ownDirectory(String id) {
        return jobs.resolve(id).resolve("out");
    }
}
