"""Face recognition (`face_recognition`): face verification by metric learning.

Verification ("same person or not?") of people never seen in training::

    dlsuite face_recognition train --output-dir runs/verify                      # offline default: mnist5k
    dlsuite face_recognition train --dataset tfds:lfw --output-dir runs/lfw     # faces; internet the first time
    dlsuite face_recognition train --dataset my_faces/ --set center_crop=1 --output-dir runs/mine
    dlsuite face_recognition predict --run runs/lfw face1.jpg face2.jpg

An embedding CNN with L2-normalised outputs (`embedding.build_embedding_network`) is trained with
a triplet loss with online batch-hard mining (`embedding.BatchHardTripletLoss`) on batches of
`batch_size / images_per_person` people. People, not images, are split (`identities`): validation
and test pairs come from people never seen in training. Verification compares the cosine
similarity of two embeddings with a threshold chosen on validation pairs (`verification`);
metrics are test accuracy and ROC AUC, next to raw pixels and PCA eigenfaces on the same pairs.

No identity-labelled face set installs offline from a package registry (scikit-image's lfw_subset
has no identities; scikit-learn's LFW and Olivetti loaders download). So the offline default is
the same open-set protocol on real handwriting: `mnist5k` with each digit class as an identity,
6 digits for training, 2 for validation and 2 never-seen digits for the test pairs. It exercises
every part (mining, threshold, metrics, export) on real data; for faces, use `tfds:lfw` (tested
under `tfds.testing.mock_data`) or a folder of `person_name/*.jpg`.
"""
