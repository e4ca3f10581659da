"""`hfvid-unsupervised-landmarks`: images (+ object boxes) -> K discovered landmarks per object, in image pixels."""

from .facial_landmarks import FaceLandmarks, FacialLandmarkDetectionPipeline


class UnsupervisedLandmarkDetectionPipeline(FacialLandmarkDetectionPipeline):
    """Landmarks of a Keypoints-to-Landmarks detector (stage 2): per object `{"box", "landmarks", "scores"}`.

    Landmark ids are arbitrary (found without annotations) but denote the same object part in every image. Everything
    else is the facial-landmark pipeline's: one chunk per object box (`batch_size` batches objects across images),
    the whole image as the box when `boxes` is not given, `face_detector=` for any object detector callable
    (PIL image -> boxes), an empty list for an image with no object, generators / `datasets.Dataset` streamed, and
    `flip_test` on by default when the model has learned a mirror table.

    Example:

    ```python
    >>> import hfvid
    >>> from transformers import pipeline
    >>> pipe = pipeline("hfvid-unsupervised-landmarks", model="path/or/hub-id")  # doctest: +SKIP
    >>> pipe("object.jpg", boxes=[[10, 20, 200, 220]])[0]["landmarks"][:2]  # doctest: +SKIP
    [[61.0, 93.0], [117.0, 90.0]]
    ```
    """


__all__ = ["FaceLandmarks", "UnsupervisedLandmarkDetectionPipeline"]
