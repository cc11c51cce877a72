"""`make deploycheck`: every combination of the template's switches, expanded offline the way
CloudFormation expands template.yaml at deploy (AWS::LanguageExtensions, then the SAM transform),
then cfn-lint and checkov over the distinct results.

Run it with the interpreter of `.venv-sam` (`python -m scripts.deploycheck`): only that venv has
aws-sam-cli and the SAM translator. `output` is plain Python, so the tests read the results with it.
"""
