package dev.lancet.engine.io;

import java.nio.file.Path;

/** A model file is missing, unreadable or malformed; the message names the file and fits on one line. */
public class CheckpointException extends RuntimeException {
    public CheckpointException(Path file, String problem) {
        this(file, problem, null);
    }

    public CheckpointException(Path file, String problem, Throwable cause) {
        // Parser and OS messages may span lines; the CLI prints this message as one line.
        super(file + ": " + problem.strip().replaceAll("\\s*\\R\\s*", " "), cause);
    }
}
